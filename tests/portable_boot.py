#!/usr/bin/env python3
"""A Beam SDK worker's boot, as Beam's container entry point does it on Flink, Spark and
Dataflow: ask the job's provision service for the pipeline options and the staged
artifacts, install the staged package (``--setup_file``: ``workflow.tar.gz``) into a folder
of this worker, then start ``sdk_worker_main`` with the options and that folder first on its
path (so that ``FileSystems`` on the worker has the job's settings, an object store's
endpoint and keys included, and the code is the job's, not whatever the machine has).
Beam's Python worker pool runs this through ``--container_executable``; without it, the
pool starts bare harnesses that know no option.

Other artifacts (requirements files, extra packages) are not installed: the tests' workers
have the project's dependencies already, as a worker image would.
"""
import argparse
import os
import subprocess
import sys
import tempfile


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("id", "logging_endpoint", "artifact_endpoint", "provision_endpoint",
                 "control_endpoint"):
        ap.add_argument(f"--{name}", default="")
    args, _ = ap.parse_known_args()

    import grpc
    from google.protobuf import json_format, text_format
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import (beam_artifact_api_pb2, beam_artifact_api_pb2_grpc,
                                             beam_provision_api_pb2, beam_provision_api_pb2_grpc,
                                             beam_runner_api_pb2, endpoints_pb2)

    metadata = [("worker_id", args.id)]
    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=metadata).info

    work = tempfile.mkdtemp(prefix=f"beam-worker-{args.id}-")
    site = os.path.join(work, "site")
    artifacts = info.artifact_endpoint.url or args.artifact_endpoint
    with grpc.insecure_channel(artifacts, options=[("grpc.max_receive_message_length", -1)]) as channel:
        stub = beam_artifact_api_pb2_grpc.ArtifactRetrievalServiceStub(channel)
        for dep in info.dependencies:
            if dep.role_urn != common_urns.artifact_roles.STAGING_TO.urn:
                continue
            name = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
            if name != "workflow.tar.gz":
                continue
            path = os.path.join(work, name)
            with open(path, "wb") as f:
                for chunk in stub.GetArtifact(beam_artifact_api_pb2.GetArtifactRequest(artifact=dep),
                                              metadata=metadata):
                    f.write(chunk.data)
            # the package alone: its dependencies are the worker image's
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--no-build-isolation", "--no-index", "--no-compile", "--target", site,
                            path], check=True, stdout=subprocess.DEVNULL)


    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    env = dict(os.environ)
    if os.path.isdir(site):
        env["PYTHONPATH"] = site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # where the worker, started as below, will import the project from
        origin = subprocess.run([sys.executable, "-c", "import transforms; print(transforms.__file__)"],
                                env=env, cwd="/", capture_output=True, text=True).stdout.strip()
        print(f"portable_boot: installed the staged package; transforms from {origin}",
              file=sys.stderr, flush=True)
    env.update({
        "WORKER_ID": args.id,
        "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
        "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(info.control_endpoint.url or args.control_endpoint),
        "LOGGING_API_SERVICE_DESCRIPTOR": descriptor(info.logging_endpoint.url or args.logging_endpoint),
    })
    os.execve(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"], env)


if __name__ == "__main__":
    main()
