"""`vitalskills bridge ...`: serve a robot over ZeroMQ, ping a server, make CurveZMQ keys."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from vitalskills.cli.app import console, key_values, user_errors
from vitalskills.cli.sim import ConditionName, DistractorsOption
from vitalskills.errors import UsageError, validate_model

bridge_app = typer.Typer(
    name="bridge",
    help="Serve a robot over the ZeroMQ bridge, ping a server, make CurveZMQ keys.",
    no_args_is_help=True,
)


def _parse_box(text: str | None) -> dict[str, tuple[float, float, float]]:
    if text is None:
        return {}
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 6:
        raise UsageError(
            f"--workspace `{text}` is not six numbers",
            hint="give XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX in metres, base frame",
        )
    return {"workspace_min": tuple(values[:3]), "workspace_max": tuple(values[3:])}


@bridge_app.command()
def serve(
    driver: Annotated[
        str,
        typer.Option(help="`sim:TASK` (the simulator) or `module.path:ClassName` (your robot)."),
    ],
    bind: Annotated[str, typer.Option(help="Endpoint to listen on.")] = "tcp://127.0.0.1:5555",
    condition: Annotated[
        ConditionName, typer.Option(help="Simulator condition.")
    ] = ConditionName.canonical,
    seed: Annotated[int | None, typer.Option(help="Simulator seed.")] = None,
    distractors: DistractorsOption = None,
    hardware: Annotated[
        bool,
        typer.Option(
            "--hardware",
            help="Serve the simulator as a real robot: nothing privileged, one scene per "
            "session (from --condition/--seed), resets that drive the arm home.",
        ),
    ] = False,
    green_screen: Annotated[
        bool,
        typer.Option(
            "--green-screen",
            help="With --hardware: a chroma-green table and wall, for demonstration scenes.",
        ),
    ] = False,
    operator_view: Annotated[
        str | None,
        typer.Option(
            help="Also answer `state` requests on this endpoint with what a person next to "
            "the robot sees (--hardware; never sent to robot clients).",
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE passed to your driver's constructor (repeatable)."),
    ] = None,
    watchdog_ms: Annotated[
        float, typer.Option(min=1, help="Stop the robot after this long without a command.")
    ] = 200.0,
    workspace: Annotated[
        str | None,
        typer.Option(help="End-effector box XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX (m, base frame)."),
    ] = None,
    max_step: Annotated[float, typer.Option(min=0, help="Largest step, m.")] = 0.05,
    max_speed: Annotated[float, typer.Option(min=0, help="Largest speed, m/s.")] = 0.5,
    max_rotation_step: Annotated[
        float, typer.Option(min=0, help="Largest rotation per action, rad.")
    ] = 0.5,
    tracking_tolerance: Annotated[
        float,
        typer.Option(
            min=0,
            help="Protective stop when the measured end effector is this far (m) outside "
            "the box, or this much faster than the step limit.",
        ),
    ] = 0.002,
    max_tactile: Annotated[
        float, typer.Option(min=0, help="Protective stop above this |tactile| value.")
    ] = 1e6,
    max_force: Annotated[float, typer.Option(min=0, help="Stop above this force, N.")] = 1e6,
    curve_secret: Annotated[
        Path | None, typer.Option(help="The server's `.key_secret` file: require CurveZMQ.")
    ] = None,
    curve_clients: Annotated[
        Path | None, typer.Option(help="Directory of allowed clients' public `.key` files.")
    ] = None,
    allow_readable_secret: Annotated[
        bool,
        typer.Option(
            "--allow-readable-secret",
            help="Accept a `--curve-secret` file that other users may read (not recommended).",
        ),
    ] = False,
) -> None:
    """Serve a robot on the bridge until Ctrl-C or SIGTERM (the robot is stopped on exit)."""
    from vitalskills.bridge.limits import SafetyLimits
    from vitalskills.bridge.server import BridgeServer, run_server

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def announce(server: BridgeServer) -> None:
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
        typer.echo(f"serving {driver} on {server.address}")
        if server.operator_view_address is not None:
            typer.echo(f"operator view on {server.operator_view_address}")

    with user_errors():
        limits = validate_model(
            SafetyLimits,
            dict(
                max_step=max_step,
                max_speed=max_speed,
                max_rotation_step=max_rotation_step,
                tracking_tolerance=tracking_tolerance,
                max_tactile=max_tactile,
                max_force=max_force,
                **_parse_box(workspace),
            ),
            UsageError,
            "bad safety limits",
        )
        try:
            run_server(
                driver,
                bind,
                condition=condition,
                seed=seed,
                distractors=distractors,
                options=key_values(option, "--option", "host=192.168.1.20"),
                watchdog_s=watchdog_ms / 1000,
                limits=limits,
                curve_secret=curve_secret,
                curve_clients=curve_clients,
                stop=stop,
                announce=announce,
                allow_readable_secret=allow_readable_secret,
                hardware=hardware,
                green_screen=green_screen,
                operator_view=operator_view,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@bridge_app.command()
def ping(
    address: Annotated[str, typer.Argument(help="Server endpoint, e.g. tcp://10.0.0.7:5555.")],
    count: Annotated[int, typer.Option(min=1, help="Round trips to time.")] = 10,
    timeout: Annotated[float, typer.Option(min=0.001, help="Per-request timeout, s.")] = 2.0,
    curve_secret: Annotated[
        Path | None, typer.Option(help="This client's `.key_secret` file.")
    ] = None,
    curve_server: Annotated[
        Path | None, typer.Option(help="The server's public `.key` file.")
    ] = None,
) -> None:
    """Say hello to a bridge server: print versions, capabilities and round-trip time."""
    from vitalskills.bridge.client import connect

    with user_errors():
        client = connect(
            address,
            timeout_s=timeout,
            curve_secret=curve_secret,
            curve_server=curve_server,
            heartbeat=False,
        )
        try:
            times = sorted(client.ping() for _ in range(count))
        finally:
            client.close()
    hello = client.hello
    caps = client.capabilities()
    console.print(f"server    {hello['server']} (protocol v{hello['version']})", soft_wrap=True)
    console.print(f"driver    {hello['driver']} ({caps.name})", soft_wrap=True)
    console.print(f"sensors   {', '.join(caps.sensors)}", soft_wrap=True)
    cameras = ", ".join(f"{c.name} {c.width}x{c.height}" for c in caps.cameras) or "none"
    console.print(f"cameras   {cameras}", soft_wrap=True)
    console.print(f"action    {caps.action_dim}-D at {caps.control_hz:g} Hz", soft_wrap=True)
    console.print(f"watchdog  {hello['watchdog_ms']:g} ms", soft_wrap=True)
    console.print(
        f"rtt       min {times[0] * 1e3:.3f} ms, median {times[len(times) // 2] * 1e3:.3f} ms, "
        f"max {times[-1] * 1e3:.3f} ms over {count}",
        soft_wrap=True,
    )


@bridge_app.command()
def keygen(
    directory: Annotated[Path, typer.Argument(help="Where to write the key files.")],
    name: Annotated[str, typer.Option(help="Base name of the key files.")] = "bridge",
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace existing key files (their old keys stop working)."),
    ] = False,
) -> None:
    """Create a CurveZMQ key pair: NAME.key (public, share it) and NAME.key_secret (keep it).

    The secret file is created readable by its owner only (mode 0600).
    """
    from vitalskills.bridge.auth import generate_keys

    with user_errors():
        public, secret = generate_keys(directory, name, force=force)
    console.print(f"public key  {public}", soft_wrap=True)
    console.print(f"secret key  {secret}", soft_wrap=True)
