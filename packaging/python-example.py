"""A Python user's first program (make test-packages runs it in a fresh
venv outside the repository): two peers on loopback; a sets a key and says
an event, b reads the replica and hears the event. Prints two lines."""

import queue
import sys
import time

import telepathine

heard: "queue.Queue[object]" = queue.Queue()
with telepathine.Peer(0, preset="local") as a, telepathine.Peer(0, [a.address], preset="local") as b:
    b.hear("greeting", lambda event: heard.put(event.value))
    a.set("color", "blue")
    deadline = time.monotonic() + 10
    while b.get_remote(a.name, "color") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"telepathine {telepathine.__version__}: b reads color={b.get_remote(a.name, 'color')}")
    a.say("greeting", "hello")
    try:
        print(f"b hears greeting={heard.get(timeout=10)}")
    except queue.Empty:
        sys.exit("b never heard the greeting")
