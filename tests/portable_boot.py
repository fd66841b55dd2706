#!/usr/bin/env python3
"""A Beam SDK worker's boot, as Beam's container entry point does it on Flink, Spark and
Dataflow: ask the job's provision service for the pipeline options, then start
``sdk_worker_main`` with them (so that ``FileSystems`` on the worker has the job's settings,
an object store's endpoint and keys included). Beam's Python worker pool runs this through
``--container_executable``; without it, the pool starts bare harnesses that know no option.

Staged artifacts are not installed: the tests' workers run in the project's environment.
"""
import argparse
import os
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("id", "logging_endpoint", "artifact_endpoint", "provision_endpoint",
                 "control_endpoint"):
        ap.add_argument(f"--{name}", default="")
    args, _ = ap.parse_known_args()

    import grpc
    from google.protobuf import json_format, text_format
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc
    from apache_beam.portability.api import endpoints_pb2

    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)]).info

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    env = dict(os.environ)
    env.update({
        "WORKER_ID": args.id,
        "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
        "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(info.control_endpoint.url or args.control_endpoint),
        "LOGGING_API_SERVICE_DESCRIPTOR": descriptor(info.logging_endpoint.url or args.logging_endpoint),
    })
    os.execve(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"], env)


if __name__ == "__main__":
    main()
