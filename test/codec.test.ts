import { describe, expect, it } from 'vitest'
import { createSerializer, createWorkflow, defaultSerializer, SerializationError } from '../src/index.js'
import { testEngine } from './helpers/engine.js'

class Money {
  constructor(
    readonly amount: bigint,
    readonly currency: string,
  ) {}
}

describe('serialization', () => {
  it('round-trips every listed type, with nested and repeated references', () => {
    const shared = { n: 1 }
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    const error = new TypeError('bad')
    ;(error as { code?: string }).code = 'E_BAD'
    const value = {
      date: new Date('2026-01-02T03:04:05.006Z'),
      map: new Map<unknown, unknown>([
        [1, { a: 1 }],
        ['k', new Set([1])],
      ]),
      set: new Set(['x', 2]),
      big: 12345678901234567890n,
      bytes: new Uint8Array([0, 1, 255]),
      buffer: Buffer.from('héllo'),
      missing: undefined,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      negZero: -0,
      regex: /a+b/gi,
      url: new URL('https://example.com/a?b=1'),
      error,
      pair: [shared, shared],
      alsoShared: shared,
      cyclic,
    }
    const back = defaultSerializer.decode(defaultSerializer.encode(value)) as typeof value
    expect(back.date).toEqual(value.date)
    expect(back.map).toEqual(value.map)
    expect(back.set).toEqual(value.set)
    expect(back.big).toBe(value.big)
    expect(back.bytes).toEqual(value.bytes)
    expect(Buffer.isBuffer(back.buffer)).toBe(true)
    expect(back.buffer.toString()).toBe('héllo')
    expect('missing' in back).toBe(true)
    expect(back.missing).toBeUndefined()
    expect(back.nan).toBeNaN()
    expect([back.inf, back.ninf]).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    expect(Object.is(back.negZero, -0)).toBe(true)
    expect(back.regex.source).toBe('a+b')
    expect(back.regex.flags).toBe('gi')
    expect(back.url).toBeInstanceOf(URL)
    expect(back.url.href).toBe('https://example.com/a?b=1')
    expect(back.error).toBeInstanceOf(Error)
    expect([back.error.name, back.error.message, (back.error as { code?: string }).code]).toEqual([
      'TypeError',
      'bad',
      'E_BAD',
    ])
    expect(back.error.stack).toBe(error.stack)
    expect(back.pair[0]).toBe(back.pair[1])
    expect(back.alsoShared).toBe(back.pair[0])
    expect(back.cyclic.self).toBe(back.cyclic)
  })

  it('takes the JSON fast path only for values JSON round-trips exactly, small or large', () => {
    // 40 plain objects first, so the shared-reference check has moved from its array to its Set.
    const filler = Array.from({ length: 40 }, (_, i) => ({ i, tags: ['a', 'b'] }))
    const plain = { filler, nested: { deep: [1, 'x', true, null, { y: 2.5 }] }, bare: Object.create(null) }
    expect(defaultSerializer.encode(plain)).toBe(JSON.stringify(plain))
    expect(defaultSerializer.encode([1, 'a'])).toBe('~[1,"a"]')

    const leaf = { shared: true }
    const list = ['shared']
    const sparse: unknown[] = ['a']
    sparse[2] = 'c'
    const cases: [string, (back: any) => void, unknown][] = [
      ['hole', (back) => expect(1 in back.v).toBe(false), sparse],
      ['undefined in an array', (back) => expect(back.v).toEqual([1, undefined]), [1, undefined]],
      ['-0', (back) => expect(Object.is(back.v, -0)).toBe(true), -0],
      ['NaN', (back) => expect(back.v).toBeNaN(), Number.NaN],
      ['shared leaf object', (back) => expect(back.v[0]).toBe(back.v[1]), [leaf, leaf]],
      ['shared array', (back) => expect(back.v.a).toBe(back.v.b), { a: list, b: list }],
      ['Date', (back) => expect(back.v).toBeInstanceOf(Date), new Date(0)],
    ]
    for (const [what, check, v] of cases) {
      for (const value of [{ v }, { filler, v }]) {
        const text = defaultSerializer.encode(value)
        expect(text === JSON.stringify(value), what).toBe(false)
        check(defaultSerializer.decode(text))
      }
    }
    expect(() => defaultSerializer.encode({ filler, v: { [Symbol('k')]: 1 } })).toThrow(SerializationError)
  })

  it('names the key path of what it cannot store', () => {
    const attempt = (value: unknown) => {
      try {
        defaultSerializer.encode(value, 'data')
      } catch (error) {
        return error as SerializationError
      }
      throw new Error('expected a failure')
    }
    expect(attempt({ user: { save() {} } }).path).toBe('data.user.save')
    expect(attempt({ user: { save() {} } }).message).toBe(
      'Cannot store data.user.save: functions cannot be stored',
    )
    expect(attempt({ list: [1, Symbol('s')] }).path).toBe('data.list[1]')
    expect(attempt({ m: new Money(1n, 'EUR') }).message).toMatch(
      /data\.m: it is a class instance the serializer has no codec for/,
    )
    expect(attempt({ m: new Map([['k', () => 1]]) }).path).toBe('data.m.get("k")')
    expect(attempt({ x: () => 1 })).toBeInstanceOf(SerializationError)
  })

  it('stores classes through registered codecs, in the engine too', async () => {
    const serializer = createSerializer({
      codecs: {
        Money: {
          test: (v) => v instanceof Money,
          encode: (m: Money) => ({ amount: m.amount, currency: m.currency }),
          decode: (o: { amount: bigint; currency: string }) => new Money(o.amount, o.currency),
        },
      },
    })
    const back = serializer.decode(serializer.encode({ price: new Money(995n, 'EUR') })) as { price: Money }
    expect(back.price).toBeInstanceOf(Money)
    expect(back.price.amount).toBe(995n)

    const { engine } = testEngine({ serializer })
    const flow = createWorkflow('money').step('price', (ctx) => {
      ctx.data.price = new Money(5n, 'USD')
    })
    const { id } = await engine.execute(flow, {})
    const stored = await engine.get(id)
    expect(stored!.data.price).toBeInstanceOf(Money)
    expect(() =>
      createSerializer({ codecs: { Error: { test: () => false, encode: (v) => v, decode: (v) => v } } }),
    ).toThrow(/reserved/)
  })

  it('keeps Dates, Maps and BigInts in ctx.data across checkpoints', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('types')
      .step('a', (ctx) => {
        ctx.data.when = new Date(0)
        ctx.data.counts = new Map([['x', 1n]])
      })
      .step('b', (ctx) => {
        ctx.data.seenDate = ctx.data.when instanceof Date
        ctx.data.counts.set('y', 2n)
      })
    const { id } = await engine.execute(flow, {})
    const stored = await engine.get(id)
    expect(stored!.data.when).toEqual(new Date(0))
    expect(stored!.data.counts).toEqual(
      new Map([
        ['x', 1n],
        ['y', 2n],
      ]),
    )
    expect(stored!.data.seenDate).toBe(true)
  })
})
