"""A stand-in for the Python executor that policy-host replaces, for
side-by-side benchmarks only (`make bench-reference`).

It is written here from SPEC.md, not taken from the old executor: one CPython
process, one gRPC server on a Unix socket, every policy imported into the
same interpreter, each request decoded into fresh SDK objects and run on a
pool of worker threads (`PYTHON_POLICY_WORKERS`, default 4) that share one
GIL. No isolation, no limits: exactly what the product exists to replace.
It serves the wire contract well enough for `policy-host bench load`; it is
not a product and no test depends on its speed.

Usage: reference_executor.py SOCKET POLICY_DIR... (the SDK is found beside
this file's parent). Stubs are generated from proto/ at start.
"""

import asyncio
import atexit
import concurrent.futures
import importlib.util
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _stubs():
    """Generates the Python stubs of proto/python_executor.proto."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="reference-executor-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(["protoc", f"-I{ROOT}/proto", f"-I{include}",
                          f"--python_out={out}", f"--grpc_python_out={out}",
                          "python_executor.proto"])
    if status != 0:
        sys.exit("protoc failed on proto/python_executor.proto")
    sys.path.insert(0, out)
    import python_executor_pb2 as pb
    import python_executor_pb2_grpc as pb_grpc
    return pb, pb_grpc


pb, pb_grpc = _stubs()

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from sdk import policy as sdk  # noqa: E402


def _load(directory):
    """Imports a policy directory's policy.py under a unique module name;
    returns (name, version, module)."""
    name = version = None
    with open(os.path.join(directory, "policy-definition.yaml")) as file:
        for line in file:
            key, _, value = line.partition(":")
            if key == "name":
                name = value.strip().strip("'\"")
            elif key == "version":
                version = value.strip().strip("'\"")
    sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(f"policy_{len(sys.modules)}",
                                                  os.path.join(directory, "policy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.remove(directory)
    return name, version, module


def _major(version):
    return version.lstrip("v").split(".")[0]


class Registry:
    """Exact `name:version` first, then `name:v<major>` (SPEC §1)."""

    def __init__(self, directories):
        self.exact, self.major = {}, {}
        for directory in directories:
            name, version, module = _load(directory)
            self.exact[(name, version)] = module
            self.major[(name, _major(version))] = module

    def find(self, name, version):
        return self.exact.get((name, version)) or self.major.get((name, _major(version)))


def _body(present, content, end_of_stream=True):
    return sdk.Body(content=content, end_of_stream=end_of_stream, present=True) if present else None


def _context(request):
    shared = request.shared_context
    metadata = json_format.MessageToDict(shared.metadata)
    base = sdk.SharedContext(
        project_id=shared.project_id, request_id=shared.request_id, metadata=metadata,
        api_id=shared.api_id, api_name=shared.api_name, api_version=shared.api_version,
        api_kind=shared.api_kind, api_context=shared.api_context,
        operation_path=shared.operation_path, auth_context=dict(shared.auth_context))
    if request.WhichOneof("context") == "response_context":
        rc = request.response_context
        return base, sdk.ResponseContext(
            shared=base, request_headers=dict(rc.request_headers),
            request_body=_body(bool(rc.request_body), rc.request_body),
            request_path=rc.request_path, request_method=rc.request_method,
            response_headers=dict(rc.response_headers),
            response_body=_body(rc.response_body_present, rc.response_body),
            response_status=rc.response_status)
    rc = request.request_context
    return base, sdk.RequestContext(
        shared=base, headers=dict(rc.headers),
        body=_body(rc.body_present, rc.body, rc.end_of_stream),
        path=rc.path, method=rc.method, authority=rc.authority, scheme=rc.scheme)


def _modifications(target, action, request_phase):
    target.set_headers.update(action.set_headers or {})
    target.remove_headers.extend(action.remove_headers or [])
    for key, values in (action.append_headers or {}).items():
        target.append_headers[key].values.extend(values)
    if action.body is not None:
        target.body, target.body_present = action.body, True
    if request_phase:
        if action.path is not None:
            target.path, target.path_present = action.path, True
        if action.method is not None:
            target.method, target.method_present = action.method, True
    elif action.status_code is not None:
        target.status_code, target.status_code_present = action.status_code, True
    if action.analytics_metadata:
        target.analytics_metadata.update(action.analytics_metadata)


def _result(response, action, phase):
    if phase == "on_response":
        result = response.response_result
        result.SetInParent()
        if action is not None:
            _modifications(result.continue_response, action, False)
    elif isinstance(action, sdk.ImmediateResponse):
        immediate = response.request_result.immediate_response
        immediate.status_code = action.status_code
        immediate.headers.update(action.headers or {})
        if action.body is not None:
            immediate.body = action.body
        if action.analytics_metadata:
            immediate.analytics_metadata.update(action.analytics_metadata)
    else:
        result = response.request_result
        result.SetInParent()
        if action is not None:
            _modifications(result.continue_request, action, True)


def execute(registry, request):
    """Runs one request; always returns one ExecutionResponse."""
    response = pb.ExecutionResponse(request_id=request.request_id)
    module = registry.find(request.policy_name, request.policy_version)
    function = getattr(module, request.phase, None) if module else None
    if function is None:
        response.error.message = f"policy {request.policy_name}:{request.policy_version} has no {request.phase}"
        response.error.error_type = "execution_error"
        return response
    try:
        shared, ctx = _context(request)
        action = function(ctx, json_format.MessageToDict(request.params))
        _result(response, action, request.phase)
        response.updated_metadata.update(shared.metadata)
    except Exception as error:  # noqa: BLE001 - every failure is the call's answer
        response.error.message = str(error)
        response.error.error_type = "execution_error"
    return response


class Service(pb_grpc.PythonExecutorServiceServicer):
    """A stream's requests are read by a task of their own; each runs on the
    worker pool and its answer is yielded as soon as it is done (any order),
    with at most `max_concurrent` in flight per stream."""

    def __init__(self, registry, workers, max_concurrent):
        self.registry = registry
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self.max_concurrent = max_concurrent
        self.loaded = len(registry.exact)

    async def ExecuteStream(self, requests, context):
        loop = asyncio.get_running_loop()
        answers = asyncio.Queue()
        room = asyncio.Semaphore(self.max_concurrent)
        finished = object()

        async def run(request):
            try:
                answers.put_nowait(await loop.run_in_executor(self.pool, execute, self.registry, request))
            finally:
                room.release()

        async def read():
            running = set()
            async for request in requests:
                await room.acquire()
                task = loop.create_task(run(request))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.gather(*running)
            answers.put_nowait(finished)

        # Headers go out at once: a client may wait for them before it sends.
        await context.send_initial_metadata(())
        reader = loop.create_task(read())
        try:
            while (answer := await answers.get()) is not finished:
                yield answer
        finally:
            reader.cancel()

    async def HealthCheck(self, request, context):
        return pb.HealthCheckResponse(ready=True, loaded_policies=self.loaded)


async def serve(socket, directories):
    """Loads the policies and serves until killed."""
    registry = Registry(directories)
    workers = int(os.environ.get("PYTHON_POLICY_WORKERS", "4"))
    max_concurrent = int(os.environ.get("PYTHON_POLICY_MAX_CONCURRENT", "100"))
    limit = 50 * 1024 * 1024
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit)])
    pb_grpc.add_PythonExecutorServiceServicer_to_server(Service(registry, workers, max_concurrent), server)
    if os.path.exists(socket):
        os.unlink(socket)
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    print(f"reference executor: {len(directories)} policies, {workers} workers, unix:{socket}", flush=True)
    await server.wait_for_termination()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    asyncio.run(serve(sys.argv[1], sys.argv[2:]))


if __name__ == "__main__":
    main()
