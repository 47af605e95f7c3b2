import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConfigError, ProtocolError } from '../../src/errors/index.ts'
import {
  FIBRE_US_PER_KM,
  isTransparentPath,
  linkBetween,
  type NodeLink,
  PREAMBLE_MAGIC,
  resolveLink,
  ZERO_LINK,
} from '../../src/net/index.ts'
import { decodePreambleBody, decodePreambleHeader, encodePreamble } from '../../src/net/preamble.ts'

const at = (distanceKm: number, extra: Partial<NodeLink> = {}): NodeLink =>
  ({
    accessLatencyMs: 0,
    uplinkMbps: 100,
    downlinkMbps: 1000,
    distanceKm,
    routeInflation: 1,
    ...extra,
  }) as NodeLink

describe('linkBetween', () => {
  it('gives ~0.01/0.1/1/10 ms round-trip propagation for 1/10/100/1000 km', () => {
    const origin = at(0)
    const expectedRtt = [0.0098, 0.098, 0.98, 9.8]
    ;[1, 10, 100, 1000].forEach((km, i) => {
      const path = linkBetween(origin, at(km))
      expect(path.distanceKm).toBeCloseTo(km, 9)
      expect(2 * path.parts.propagationMs).toBeCloseTo(expectedRtt[i] as number, 9)
      expect(path.parts.accessMs).toBe(0)
      expect(path.oneWayDelayMs).toBe(path.parts.propagationMs)
    })
    expect(FIBRE_US_PER_KM).toBe(4.9)
  })

  it('adds both access latencies once and applies route inflation to distance only', () => {
    const a = at(0, { accessLatencyMs: 8 })
    const b = at(100, { accessLatencyMs: 12, routeInflation: 2 })
    const path = linkBetween(a, b)
    // mean inflation (1 + 2) / 2 = 1.5
    expect(path.parts.propagationMs).toBeCloseTo(100 * 1.5 * 0.0049, 9)
    expect(path.parts.accessMs).toBe(20)
    expect(path.oneWayDelayMs).toBeCloseTo(20 + 0.735, 9)
  })

  it('rate is the sender uplink capped by the receiver downlink', () => {
    const home = at(0, { uplinkMbps: 20, downlinkMbps: 300 })
    const dc = at(10, { uplinkMbps: 10_000, downlinkMbps: 10 })
    expect(linkBetween(home, dc).rateMbps).toBe(10)
    expect(linkBetween(dc, home).rateMbps).toBe(300)
  })

  it('uses 2-D positions and is symmetric in delay', () => {
    const a: NodeLink = { accessLatencyMs: 1, uplinkMbps: 50, downlinkMbps: 50, position: { x: 0, y: 0 } }
    const b: NodeLink = { accessLatencyMs: 2, uplinkMbps: 50, downlinkMbps: 50, position: { x: 30, y: 40 } }
    expect(linkBetween(a, b).distanceKm).toBe(50)
    expect(linkBetween(a, b).oneWayDelayMs).toBe(linkBetween(b, a).oneWayDelayMs)
  })

  it('zero links make a transparent path; any delay or rate limit does not', () => {
    expect(isTransparentPath(linkBetween(ZERO_LINK, ZERO_LINK))).toBe(true)
    expect(isTransparentPath(linkBetween(ZERO_LINK, { ...ZERO_LINK, accessLatencyMs: 0.1 }))).toBe(false)
    expect(isTransparentPath(linkBetween({ ...ZERO_LINK, uplinkMbps: 100 }, ZERO_LINK))).toBe(false)
  })

  it('reads a null rate (JSON has no Infinity) as unlimited', () => {
    const fromJson = JSON.parse(
      JSON.stringify({ ...at(5), uplinkMbps: Number.POSITIVE_INFINITY }),
    ) as NodeLink
    expect(fromJson.uplinkMbps).toBeNull()
    expect(resolveLink(fromJson).uplinkMbps).toBe(Number.POSITIVE_INFINITY)
  })

  it('rejects unusable links with ConfigError', () => {
    expect(() => resolveLink(at(0, { accessLatencyMs: -1 }))).toThrow(ConfigError)
    expect(() => resolveLink(at(0, { uplinkMbps: 0 }))).toThrow(ConfigError)
    expect(() => resolveLink(at(0, { downlinkMbps: Number.NaN }))).toThrow(ConfigError)
    expect(() => resolveLink(at(0, { routeInflation: 0.5 }))).toThrow(ConfigError)
    expect(() =>
      resolveLink({ accessLatencyMs: 0, uplinkMbps: 1, downlinkMbps: 1 } as unknown as NodeLink),
    ).toThrow(/position/)
  })
})

describe('link preamble codec', () => {
  const finiteKm = fc.double({ min: -20_000, max: 20_000, noNaN: true })
  const rate = fc.oneof(
    fc.double({ min: 0.001, max: 1e6, noNaN: true }),
    fc.constant(Number.POSITIVE_INFINITY),
  )

  it('round-trips any valid link, including unlimited rates', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        rate,
        rate,
        finiteKm,
        finiteKm,
        fc.double({ min: 1, max: 10, noNaN: true }),
        (accessLatencyMs, uplinkMbps, downlinkMbps, x, y, routeInflation) => {
          const link = resolveLink({
            accessLatencyMs,
            uplinkMbps,
            downlinkMbps,
            position: { x, y },
            routeInflation,
          })
          const bytes = encodePreamble(link)
          const bodyLength = decodePreambleHeader(bytes.subarray(0, 6))
          expect(decodePreambleBody(bytes.subarray(6, 6 + bodyLength))).toEqual(link)
        },
      ),
    )
  })

  it('rejects a wrong magic, version or length with a stable code', () => {
    const good = encodePreamble(ZERO_LINK)
    const codeOf = (header: Uint8Array): string => {
      try {
        decodePreambleHeader(header)
        return 'none'
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError)
        return (err as ProtocolError).code
      }
    }
    expect(codeOf(new TextEncoder().encode('\x13/multistream/1.0.0').subarray(0, 6))).toBe(
      'ERR_LINK_PREAMBLE_MAGIC',
    )
    expect(codeOf(Uint8Array.from([...PREAMBLE_MAGIC, 9, 48]))).toBe('ERR_LINK_PREAMBLE_VERSION')
    expect(codeOf(Uint8Array.from([...PREAMBLE_MAGIC, 1, 200]))).toBe('ERR_LINK_PREAMBLE_LENGTH')
    expect(codeOf(good.subarray(0, 6))).toBe('none')
  })

  it('rejects a body carrying impossible values', () => {
    const body = encodePreamble(ZERO_LINK).subarray(6)
    new DataView(body.buffer, body.byteOffset).setFloat64(0, -5)
    expect(() => decodePreambleBody(body)).toThrow(
      expect.objectContaining({ code: 'ERR_LINK_PREAMBLE_INVALID' }),
    )
  })
})
