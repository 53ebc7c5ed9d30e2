# The N-API addon (src/addon.c). scripts/build.js runs node-gyp with
# --nodedir pointing at installed headers (nothing is downloaded) and
# --tp_include at the directory of telepathine.h (the repository's cgo/).
# The addon does not link libtelepathine.so: it dlopen()s it (see addon.c).
{
  "variables": {
    "tp_include%": "<(module_root_dir)/../../cgo"
  },
  "targets": [
    {
      "target_name": "telepathine",
      "sources": ["src/addon.c"],
      "include_dirs": ["<(tp_include)"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
