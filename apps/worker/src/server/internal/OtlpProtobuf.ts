/**
 * OTLP/HTTP's binary encoding: an `ExportTraceServiceRequest` in protobuf, decoded with
 * `protobufjs` from the official OpenTelemetry `.proto` files (vendored unchanged in
 * `apps/worker/proto/`, from open-telemetry/opentelemetry-proto v1.11), and turned into the shape of
 * OTLP's JSON encoding so one converter (`Otlp.spansToEvents`) serves both.
 *
 * The JSON mapping differs from protobuf's canonical one in two places OTLP specifies: trace and
 * span ids are hex, not base64; int64 values (times, `intValue`) are decimal strings.
 */
import { fileURLToPath } from "node:url"
import protobuf from "protobufjs"
import * as Result from "effect/Result"

const protoDir = fileURLToPath(new URL("../../../proto/", import.meta.url))

const root = new protobuf.Root()
root.resolvePath = (_origin, target) => protoDir + target
root.loadSync("opentelemetry/proto/collector/trace/v1/trace_service.proto")

const ExportTraceServiceRequest = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
const ExportTraceServiceResponse = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse")
// google.rpc.Status is not among OTLP's files; its two fields that OTLP/HTTP uses, as in google/rpc/status.proto.
const Status = new protobuf.Type("Status").add(new protobuf.Field("code", 1, "int32")).add(new protobuf.Field("message", 2, "string"))
root.define("google.rpc").add(Status)

const hex = (base64: unknown): unknown => (typeof base64 === "string" ? Buffer.from(base64, "base64").toString("hex") : base64)

interface SpanObject {
  traceId?: unknown
  spanId?: unknown
  parentSpanId?: unknown
  links?: Array<{ traceId?: unknown; spanId?: unknown }>
}
interface RequestObject {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<SpanObject> }> }>
}

/** The request in OTLP's JSON shape, or the reason the bytes are not one. */
export const decodeRequest = (bytes: Uint8Array): Result.Result<unknown, string> => {
  let object: RequestObject
  try {
    const message = ExportTraceServiceRequest.decode(bytes)
    object = ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String, enums: Number }) as RequestObject
  } catch (cause) {
    return Result.fail(cause instanceof Error ? cause.message : String(cause))
  }
  for (const resource of object.resourceSpans ?? []) {
    for (const scope of resource.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        span.traceId = hex(span.traceId)
        span.spanId = hex(span.spanId)
        if (span.parentSpanId !== undefined) span.parentSpanId = hex(span.parentSpanId)
        for (const link of span.links ?? []) {
          link.traceId = hex(link.traceId)
          link.spanId = hex(link.spanId)
        }
      }
    }
  }
  return Result.succeed(object)
}

/** An `ExportTraceServiceResponse`, `partialSuccess` set only when some spans were rejected. */
export const encodeResponse = (partialSuccess?: { readonly rejectedSpans: number; readonly errorMessage: string }): Uint8Array =>
  ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(partialSuccess === undefined ? {} : { partialSuccess })).finish()

/** A `google.rpc.Status`, the body of an OTLP/HTTP error in the binary encoding. */
export const encodeStatus = (code: number, message: string): Uint8Array => Status.encode(Status.fromObject({ code, message })).finish()
