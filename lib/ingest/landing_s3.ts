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
import type { LandingConfig } from "../config/config.ts";
import { type FetchedFile, isCsv, type Landing } from "./landing.ts";
import type { LandingObject } from "./load.ts";

export class S3Landing implements Landing {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(config: LandingConfig, client?: S3Client) {
    this.#bucket = config.bucket;
    this.#prefix = config.prefix;
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
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || !isCsv(o.Key)) continue;
        out.push({
          key: `s3://${this.#bucket}/${o.Key}`,
          etag: (o.ETag ?? "").replaceAll('"', ""),
          size: o.Size ?? 0,
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async fetch(
    obj: LandingObject,
    tmpDir: string,
    signal?: AbortSignal,
  ): Promise<FetchedFile> {
    const key = obj.key.slice(`s3://${this.#bucket}/`.length);
    const res = await this.#client.send(
      new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
      { abortSignal: signal },
    );
    if (!res.Body) throw new Error(`${obj.key}: empty response body`);
    await Deno.mkdir(tmpDir, { recursive: true });
    const name = key.split("/").pop() ?? "object.csv";
    const dir = await Deno.makeTempDir({ dir: tmpDir, prefix: "s3_" });
    const path = `${dir}/${name}`;
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    await res.Body.transformToWebStream().pipeTo(file.writable, { signal });
    const etag = (res.ETag ?? obj.etag).replaceAll('"', "");
    return {
      ...obj,
      etag,
      path,
      release: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    };
  }
}
