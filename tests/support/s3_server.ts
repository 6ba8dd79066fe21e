/**
 * A real S3-API HTTP server for tests (moto, see s3_server.py), started once per test process,
 * lazily, on a free port; it stops when the test process exits. `s3TestEnv()` gives the
 * configuration variables that point the landing store at it.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { type PythonServer, startPythonServer } from "./python_venv.ts";

let shared: Promise<PythonServer> | undefined;

/** The running server (started on first call). */
function s3Server(): Promise<PythonServer> {
  shared ??= startPythonServer(new URL("./s3_server.py", import.meta.url).pathname);
  return shared;
}

/** The endpoint URL of the shared server. */
export async function s3Endpoint(): Promise<string> {
  return `http://127.0.0.1:${(await s3Server()).port}`;
}

/** Environment for `loadConfig` pointing the landing store at `s3://bucket/prefix` here. */
export async function s3TestEnv(bucket: string, prefix = ""): Promise<Record<string, string>> {
  return {
    EGX_LANDING: `s3://${bucket}/${prefix}`,
    S3_ENDPOINT: await s3Endpoint(),
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test-access-key",
    AWS_SECRET_ACCESS_KEY: "test-secret-key",
  };
}

/** A client for test setup (creating buckets, uploading fixtures). */
export async function s3TestClient(): Promise<S3Client> {
  return new S3Client({
    endpoint: await s3Endpoint(),
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test-access-key", secretAccessKey: "test-secret-key" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
