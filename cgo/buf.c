// tp_buf_free is plain C: freeing memory needs no Go runtime entry, so it
// is cheap and safe from any thread, finalizers and GC hooks included.
#include <stdlib.h>

#include "telepathine.h"

void tp_buf_free(tp_buf *buf) {
  if (buf == NULL) {
    return;
  }
  free(buf->data);
  buf->data = NULL;
  buf->len = 0;
}
