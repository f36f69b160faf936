"""The `tracker_node` executable: starts the RMAN tracker lifecycle node (rman_ros.ros.node.TrackerNode).

This module stays light on purpose: main() catches SIGINT/SIGTERM before the heavy imports (rclpy, torch:
seconds on a loaded machine), so that a Ctrl-C at any moment of the start-up ends the process cleanly
(status 0). Exit status: 0 on a clean shutdown, 1 when autostart could not configure or activate the node
(a bad start-up parameter value, an unavailable device), after one error naming the reason.

TrackerNode, autostart, apply_config and NODE_NAME are importable from here too (loaded on first use).
"""
from __future__ import annotations

import os
import signal
import sys
import threading

_EXPORTS = {"TrackerNode": "node", "autostart": "node", "NODE_NAME": "node", "apply_config": "tracking_loop",
            "INIT_WAIT_S": "tracking_loop"}


def __getattr__(name):  # PEP 562: the node module (rclpy, torch) is imported only when asked for
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"rman_ros.ros.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def catch_stop_signals() -> threading.Event:
    """SIGINT and SIGTERM set the returned event instead of raising KeyboardInterrupt in whatever import is
    running. rclpy.init later installs its own handlers, which shut the context down."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handler)
    except ValueError:  # not the main thread (main() called from a test thread): nothing to catch here
        pass
    return stop


def spin(executor, node, stop: threading.Event, context=None) -> None:
    """Serve callbacks until shutdown. An exception escaping a callback (e.g. rclpy's parameter service on a
    malformed request) is logged and counted in the diagnostics, and the node goes on serving. An exception
    raised because a signal shut the context down between the loop's check and the wait (rclpy's "context is
    not valid") is that shutdown, not an error."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    while rclpy.ok(context=context) and not stop.is_set():
        try:
            executor.spin_once(timeout_sec=0.25)
        except (KeyboardInterrupt, ExternalShutdownException):
            break
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the node down
            if not rclpy.ok(context=context) or stop.is_set():
                break
            node.report_callback_error(exc)


def main(args=None) -> int:
    stop = catch_stop_signals()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from rman_ros.ros.node import NODE_NAME, TrackerNode, autostart

    if stop.is_set():  # interrupted while importing
        return 0
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = TrackerNode()
        except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
            if not rclpy.ok() or stop.is_set():
                return 0
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            rclpy.logging.get_logger(NODE_NAME).error(f"cannot start: {reason}")
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        wanted = node.get_parameter("autostart").value
        try:
            started = autostart(node)
        except Exception:  # noqa: BLE001 - e.g. a transition on a context that a signal shut down
            if not rclpy.ok() or stop.is_set():
                return 0
            raise
        if wanted and not started:
            if not rclpy.ok() or stop.is_set():
                return 0
            node.get_logger().info("autostart failed (reason above): exiting with status 1")
            return 1
        spin(executor, node, stop)
        return 0
    finally:
        if node is not None:
            node.shutdown_worker()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
