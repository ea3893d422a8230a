/**
 * An in-process "socket" to PGlite for `@effect/sql-pg`'s `stream` option: bytes the client writes
 * are cut into whole protocol messages and fed to `execProtocolRawStream`; what PGlite answers is
 * pushed back as the socket's readable side.
 *
 * PGlite is one backend in one thread, so every stream made by one factory shares a queue: no two
 * protocol exchanges ever interleave. Before a new session starts, anything a dead session left
 * behind (an open transaction, prepared statements, session settings) is discarded, so a client
 * that reconnects after an interrupted transaction starts clean.
 */
import type { PGlite } from "@electric-sql/pglite"
import { Buffer } from "node:buffer"
import { Duplex } from "node:stream"

const SSL_REQUEST_CODE = 80877103
const GSSENC_REQUEST_CODE = 80877104
const CANCEL_REQUEST_CODE = 80877102
const TERMINATE = 0x58 // 'X'

/** A queue that runs one task at a time, in order, whatever the outcome of the previous one. */
const makeSerialQueue = () => {
  let tail: Promise<unknown> = Promise.resolve()
  return <A>(task: () => Promise<A>): Promise<A> => {
    const run = tail.then(task, task)
    tail = run.catch(() => undefined)
    return run
  }
}

export interface PgliteStreamFactory {
  (): Duplex
}

export const makeFactory = (db: PGlite): PgliteStreamFactory => {
  const enqueue = makeSerialQueue()
  let sessions = 0

  const resetSession = async (): Promise<void> => {
    // A previous session may have died inside a transaction (an interrupted fiber invalidates its
    // connection); the backend would otherwise hand its state to the next session.
    await db.exec("ROLLBACK")
    await db.exec("DISCARD ALL")
  }

  return () => {
    let pending: Buffer = Buffer.alloc(0)
    let started = false
    let ended = false

    const stream: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
        const messages: Array<Buffer> = []
        let startup: Buffer | undefined
        while (!ended) {
          if (!started) {
            // Untyped startup-phase packets: Int32 length (including itself), Int32 code.
            if (pending.length < 8) break
            const length = pending.readInt32BE(0)
            if (pending.length < length) break
            const code = pending.readInt32BE(4)
            const packet = pending.subarray(0, length)
            pending = pending.subarray(length)
            if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
              stream.push(Buffer.from("N"))
              continue
            }
            if (code === CANCEL_REQUEST_CODE) {
              // PGlite runs a statement to completion before it looks at anything else, so there
              // is never a statement to cancel by the time this arrives.
              ended = true
              stream.push(null)
              break
            }
            started = true
            startup = packet
            continue
          }
          // Typed messages: Byte1 type, Int32 length (including itself, not the type byte).
          if (pending.length < 5) break
          const length = pending.readInt32BE(1) + 1
          if (pending.length < length) break
          const message = pending.subarray(0, length)
          pending = pending.subarray(length)
          if (message[0] === TERMINATE) {
            ended = true
            stream.push(null)
            break
          }
          messages.push(message)
        }
        if (startup === undefined && messages.length === 0) return callback()
        const payload = Buffer.concat(startup === undefined ? messages : [startup, ...messages])
        const isStartup = startup !== undefined
        enqueue(async () => {
          if (isStartup && sessions++ > 0) await resetSession()
          await db.execProtocolRawStream(new Uint8Array(payload.buffer, payload.byteOffset, payload.length), {
            onRawData: (data) => {
              if (!stream.destroyed) stream.push(Buffer.from(data))
            }
          })
        }).then(() => callback(), (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))))
      },
      final(callback) {
        ended = true
        stream.push(null)
        callback()
      }
    })
    return stream
  }
}
