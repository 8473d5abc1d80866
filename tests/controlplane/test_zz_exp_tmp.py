import time
from pathlib import Path
import pytest
from jt808.gateway.v1 import gateway_service_pb2 as api, gateway_service_pb2_grpc as api_grpc
from jt808.gateway.v1 import commands_pb2 as pb
from gateway.protocol.versions import V2019, V2011, V2013
from tests.controlplane.harness import running_app, fleet, api_channel, phones
from tests.controlplane.test_commands import CASES

@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

@pytest.mark.anyio
@pytest.mark.parametrize("version", [V2019, V2013, V2011], ids=str)
async def test_x(tmp_path: Path, version) -> None:
    t0 = time.monotonic()
    async with running_app(tmp_path) as app, fleet(app, terminals=1, version=version) as sim, api_channel(app) as ch:
        print("setup", time.monotonic() - t0)
        stub = api_grpc.GatewayServiceStub(ch)
        phone = phones(app)[0]
        print(phone)
        for name, (req, _) in CASES.items():
            r = api.SendCommandRequest(); r.CopyFrom(req); r.phone = phone
            t1 = time.monotonic()
            resp = await stub.SendCommand(r, timeout=5)
            print(name, hex(resp.reply_msg_id), resp.result, resp.WhichOneof("reply"), str(resp)[:300].replace("\n", " | "), round(time.monotonic()-t1, 3))
        r = api.SendCommandRequest(phone=phone, raw=pb.RawCommand(msg_id=0x8201))
        print(await stub.SendCommand(r, timeout=5))
    print("total", time.monotonic() - t0)
