"""The ZeroMQ bridge: the same task runs on the simulator and on hardware.

    server = BridgeServer(load_driver("sim:plug_in_socket"), "tcp://0.0.0.0:5555")
    server.serve()                                   # robot side

    with connect("tcp://10.0.0.7:5555") as robot:    # executor side: a `Robot`
        obs = robot.reset(seed=0)

The wire protocol is specified in docs/bridge-protocol.md; drivers in docs/drivers.md.
"""

from vitalskills.bridge.auth import AuthError, CurveKeyPair, generate_keys
from vitalskills.bridge.client import BridgeClient, connect
from vitalskills.bridge.drivers import Driver, DriverError, load_driver
from vitalskills.bridge.limits import SafetyLimits
from vitalskills.bridge.operator_view import OperatorView
from vitalskills.bridge.protocol import PROTOCOL_VERSION, ErrorCode, ProtocolError
from vitalskills.bridge.server import BridgeServer, SafetyEvent, ServeError

__all__ = [
    "PROTOCOL_VERSION",
    "AuthError",
    "BridgeClient",
    "BridgeServer",
    "CurveKeyPair",
    "Driver",
    "DriverError",
    "ErrorCode",
    "OperatorView",
    "ProtocolError",
    "SafetyEvent",
    "SafetyLimits",
    "ServeError",
    "connect",
    "generate_keys",
    "load_driver",
]
