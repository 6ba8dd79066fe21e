/**
 * The S3 landing store (AWS S3 or any S3-API server: custom endpoint, path-style addressing).
 * Loaded on demand by openLanding, so jobs on a local landing folder never load the AWS SDK
 * (which reads AWS_* variables as soon as it is imported).
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
} from "@aws-sdk/client-s3";
import { ConfigError, folderPrefix, type LandingConfig } from "../config/config.ts";
import {
  compareKeys,
  type FetchedFile,
  firstLine,
  HEADER_BYTES,
  isCsv,
  type Landing,
  ObjectChangedError,
  type ObjectHeader,
} from "./landing.ts";
import type { LandingObject } from "./load.ts";

/**
 * S3 errors that trying again cannot mend, with the setting to look at: the bucket does not exist
 * or cannot be one, the keys are missing or wrong.
 */
const SETTINGS_ERRORS: Readonly<Record<string, string>> = {
  NoSuchBucket: "check the bucket in EGX_LANDING",
  InvalidBucketName: "check the bucket in EGX_LANDING",
  InvalidAccessKeyId: "check AWS_ACCESS_KEY_ID",
  SignatureDoesNotMatch: "check AWS_SECRET_ACCESS_KEY",
  CredentialsProviderError: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
};

export class S3Landing implements Landing {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  /** Where requests go, for messages: the endpoint's host, or AWS and the region. */
  readonly #server: string;

  constructor(config: LandingConfig, client?: S3Client) {
    this.#bucket = config.bucket;
    // A LandingConfig built by hand gets the folder rule of EGX_LANDING too (config.ts).
    this.#prefix = folderPrefix(config.prefix);
    this.#server = config.endpoint ? new URL(config.endpoint).host : `AWS S3 (${config.region})`;
    this.#client = client ?? new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle,
      // Some S3-compatible servers reject the SDK's default CRC32 checksums.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(config.accessKeyId && config.secretAccessKey
        ? {
          credentials: {
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
            sessionToken: config.sessionToken,
          },
        }
        : {}),
    });
  }

  get where(): string {
    return `s3://${this.#bucket}/${this.#prefix}`;
  }

  /**
   * The SDK's errors name neither bucket nor server ("connect ECONNREFUSED 127.0.0.1:1",
   * "The specified bucket does not exist"): say what was asked of which server. One that only a
   * change of settings mends (SETTINGS_ERRORS) is a ConfigError: the job exits 2, not retried.
   */
  #failed(what: string, e: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted || !(e instanceof Error)) return e;
    const reason = e.name === "Error" || e.message.startsWith(e.name)
      ? e.message
      : `${e.name}: ${e.message}`;
    const message = `cannot ${what} on ${this.#server}: ${reason}`;
    const fix = SETTINGS_ERRORS[e.name];
    return fix === undefined
      ? new Error(message, { cause: e })
      : new ConfigError(`${message} (${fix})`, { cause: e });
  }

  /** Keys are `s3://bucket/key`, so loads from different stores never collide. */
  async list(signal?: AbortSignal): Promise<LandingObject[]> {
    const out: LandingObject[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix || undefined,
          ContinuationToken: token,
        }),
        { abortSignal: signal },
      ).catch((e) => {
        throw this.#failed(`list ${this.where}`, e, signal);
      });
      for (const o of page.Contents ?? []) {
        if (!o.Key || !isCsv(o.Key)) continue;
        out.push({
          key: `s3://${this.#bucket}/${o.Key}`,
          etag: (o.ETag ?? "").replaceAll('"', ""),
          size: o.Size ?? 0,
          modified: o.LastModified?.getTime(),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  /**
   * A ranged GET of the object's first HEADER_BYTES, read into memory (a server that ignores the
   * range is read no further either). An empty object has no byte 0: S3 answers InvalidRange
   * (416), and it is asked for whole.
   */
  async readHeader(obj: LandingObject, signal?: AbortSignal): Promise<ObjectHeader> {
    const get = (range?: string) =>
      this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#keyOf(obj), Range: range }),
        { abortSignal: signal },
      );
    try {
      const res = await get(`bytes=0-${HEADER_BYTES - 1}`).catch((e) => {
        if (e instanceof Error && e.name === "InvalidRange") return get();
        throw e;
      });
      const bytes = new Uint8Array(HEADER_BYTES);
      let n = 0;
      if (res.Body) {
        const reader = res.Body.transformToWebStream().getReader();
        try {
          while (n < HEADER_BYTES) {
            const { done, value } = await reader.read();
            if (done) break;
            const part = value.subarray(0, HEADER_BYTES - n);
            bytes.set(part, n);
            n += part.length;
          }
        } finally {
          await reader.cancel().catch(() => {});
        }
      }
      // `bytes 0-65535/1234567`: the object's size; without a range, the whole length.
      const total = /\/(\d+)$/.exec(res.ContentRange ?? "")?.[1];
      return {
        header: firstLine(bytes.subarray(0, n)),
        etag: (res.ETag ?? obj.etag).replaceAll('"', ""),
        size: total !== undefined ? Number(total) : res.ContentLength ?? obj.size,
        modified: res.LastModified?.getTime() ?? obj.modified,
      };
    } catch (e) {
      throw this.#failed(`fetch ${obj.key}`, e, signal);
    }
  }

  #keyOf(obj: LandingObject): string {
    return obj.key.slice(`s3://${this.#bucket}/`.length);
  }

  async fetch(
    obj: LandingObject,
    tmpDir: string,
    signal?: AbortSignal,
  ): Promise<FetchedFile> {
    const key = this.#keyOf(obj);
    // Only the version listed (or whose header was read): its format and group were decided on
    // it, and the load records it.
    const res = await this.#client.send(
      new GetObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        IfMatch: obj.etag ? `"${obj.etag}"` : undefined,
      }),
      { abortSignal: signal },
    ).catch((e) => {
      if (!signal?.aborted && e instanceof Error && e.name === "PreconditionFailed") {
        throw new ObjectChangedError(
          `${obj.key}: changed since it was listed and its header read (version ${obj.etag}): ` +
            "not loaded; the next load reads it again",
          { cause: e },
        );
      }
      throw this.#failed(`fetch ${obj.key}`, e, signal);
    });
    if (!res.Body) throw new Error(`${obj.key}: empty response body`);
    await Deno.mkdir(tmpDir, { recursive: true });
    const name = key.split("/").pop() ?? "object.csv";
    const dir = await Deno.makeTempDir({ dir: tmpDir, prefix: "s3_" });
    const path = `${dir}/${name}`;
    try {
      const file = await Deno.open(path, { write: true, create: true, truncate: true });
      await res.Body.transformToWebStream().pipeTo(file.writable, { signal });
      // A connection closed early can end the body without an error: never load part of a file.
      const got = (await Deno.stat(path)).size;
      if (res.ContentLength !== undefined && got !== res.ContentLength) {
        throw new Error(`download cut short: ${got} of ${res.ContentLength} bytes`);
      }
    } catch (e) {
      // A download cut short leaves nothing behind (the batch goes on with the other objects).
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw this.#failed(`fetch ${obj.key}`, e, signal);
    }
    const etag = (res.ETag ?? obj.etag).replaceAll('"', "");
    return {
      ...obj,
      // The version downloaded (the one asked for, If-Match).
      etag,
      size: res.ContentLength ?? obj.size,
      modified: res.LastModified?.getTime() ?? obj.modified,
      path,
      release: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    };
  }
}
