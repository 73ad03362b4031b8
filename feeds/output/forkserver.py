"""Imported by the forkserver alone, as a preload of ``parallel.workers``: ignore SIGTERM there.

SIGTERM often reaches a whole process group or cgroup at once (``timeout``,
systemd's stop). The build stops on it cleanly and shuts its pool down, and a
``feeds schedule`` build finishes first; but a pool counts its workers as dead
once the forkserver that forked them is gone (the forkserver reports their
exit), so a forkserver killed by that same SIGTERM broke the pool under both.
The forkserver still exits as soon as the build and its workers are gone (its
"alive" pipe closes); the workers it forks inherit the setting.
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
