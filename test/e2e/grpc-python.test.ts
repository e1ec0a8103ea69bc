// The .proto, not our TypeScript, is the contract: a Python client generated from
// proto/tq/v1/broker.proto by another toolchain (protoc and grpc_python_plugin from Debian, with
// Debian's grpcio) submits a task, runs it as a worker over the Work stream, and reads the result;
// an invalid field comes back INVALID_ARGUMENT naming it. The Debian packages are installed by
// this test when absent (apt-get, as root); where that is impossible the test is skipped, loudly.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { inheritedEnv, runCommand } from "../helpers/run-command.ts";

const PYTHON = "/usr/bin/python3";
const PACKAGES = ["python3-grpcio", "python3-protobuf", "protobuf-compiler", "protobuf-compiler-grpc"];
const PROTO_DIR = resolve(import.meta.dir, "../../proto");

async function toolchainReady(): Promise<boolean> {
  if (Bun.which("protoc") === null || Bun.which("grpc_python_plugin") === null) return false;
  const probe = await runCommand([PYTHON, "-c", "import grpc, google.protobuf"], { cwd: tmpdir(), timeoutMs: 30_000 }).catch(() => null);
  return probe?.exitCode === 0;
}

/** Installs the Debian packages when missing; false (with the reason printed) when that cannot be done here. */
async function ensureToolchain(): Promise<boolean> {
  if (await toolchainReady()) return true;
  const apt = Bun.which("apt-get");
  if (apt === null || process.getuid?.() !== 0) {
    console.warn(`SKIPPED grpc-python: needs ${PACKAGES.join(", ")} (Debian), and apt-get as root is not available here`);
    return false;
  }
  const env = { ...inheritedEnv(), DEBIAN_FRONTEND: "noninteractive" };
  let install = await runCommand([apt, "install", "-y", "--no-install-recommends", ...PACKAGES], { cwd: tmpdir(), env, timeoutMs: 300_000 });
  if (install.exitCode !== 0) {
    await runCommand([apt, "update"], { cwd: tmpdir(), env, timeoutMs: 300_000 });
    install = await runCommand([apt, "install", "-y", "--no-install-recommends", ...PACKAGES], { cwd: tmpdir(), env, timeoutMs: 300_000 });
  }
  if (install.exitCode === 0 && (await toolchainReady())) return true;
  console.warn(`SKIPPED grpc-python: apt-get install ${PACKAGES.join(" ")} failed: ${install.stderr.slice(-500)}`);
  return false;
}

const ready = await ensureToolchain();

const CLIENT = String.raw`
import json, queue, sys
import grpc
sys.path.insert(0, sys.argv[1])
from tq.v1 import broker_pb2 as pb, broker_pb2_grpc as rpc

stub = rpc.BrokerStub(grpc.insecure_channel("127.0.0.1:" + sys.argv[2]))
out = {}
submitted = stub.Submit(pb.SubmitRequest(task=pb.TaskSpec(type="py.double", queue="py", payload=b'{"x": 21}', payload_is_json=True, tier=pb.TIER_HIGH)))
out["submitted"] = {"id": submitted.id, "status": pb.TaskStatus.Name(submitted.status)}

try:
    stub.Submit(pb.SubmitRequest(task=pb.TaskSpec(type="py.bad", priority=300)))
except grpc.RpcError as err:
    trailers = dict(err.trailing_metadata())
    out["invalid"] = {"code": err.code().name, "field": trailers.get("tq-error-field"), "name": trailers.get("tq-error-name")}

# The worker loop: start, run each task pushed, report it; half-close (goodbye) once it is acknowledged.
outbox = queue.Queue()
outbox.put(pb.WorkRequest(start=pb.WorkStart(worker_id="py-worker", hostname="py", queues=["py"], concurrency=1)))
def requests():
    while True:
        message = outbox.get()
        if message is None:
            return
        yield message
for reply in stub.Work(requests()):
    kind = reply.WhichOneof("kind")
    if kind == "tasks":
        for task in reply.tasks.tasks:
            x = json.loads(task.payload)["x"]
            result = pb.TaskResult(id=task.id, token=task.token, outcome=pb.OUTCOME_COMPLETED, result=json.dumps({"y": 2 * x}).encode(), result_is_json=True)
            outbox.put(pb.WorkRequest(report=pb.WorkReport(ref=1, results=[result])))
    elif kind == "report_ack":
        out["ack"] = reply.report_ack.entries[0].WhichOneof("entry")
        outbox.put(None)

task = stub.GetTask(pb.GetTaskRequest(id=submitted.id))
out["task"] = {"status": pb.TaskStatus.Name(task.status), "result": json.loads(task.result), "worker_id": task.worker_id, "priority": task.priority}
print(json.dumps(out))
`;

let dir: string;
let broker: TestBroker;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tq-grpc-py-"));
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a client generated from the .proto by protoc (Python, grpcio)", () => {
  test.skipIf(!ready)(
    "submits a task, runs it over the Work stream, reads the result; errors carry the field",
    async () => {
      const gen = await runCommand(
        ["protoc", `-I${PROTO_DIR}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, `--plugin=protoc-gen-grpc_python=${Bun.which("grpc_python_plugin")}`, "tq/v1/broker.proto"],
        { cwd: dir, timeoutMs: 60_000 },
      );
      expect(gen.stderr).toBe("");
      expect(gen.exitCode).toBe(0);
      writeFileSync(join(dir, "client.py"), CLIENT);
      // Async: the broker runs in this process and must keep answering while Python runs.
      const run = await runCommand([PYTHON, join(dir, "client.py"), dir, String(broker.grpcPort)], { cwd: dir, timeoutMs: 60_000 });
      expect(run.stderr).toBe("");
      const out = JSON.parse(run.stdout);
      expect(out).toEqual({
        submitted: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: "TASK_STATUS_PENDING" },
        invalid: { code: "INVALID_ARGUMENT", field: "priority", name: "InvalidField" },
        ack: "ok",
        task: { status: "TASK_STATUS_COMPLETED", result: { y: 42 }, worker_id: "py-worker", priority: 255 },
      });
      expect((await broker.app.broker.get(out.submitted.id)).status).toBe("completed");
    },
    120_000,
  );
});
