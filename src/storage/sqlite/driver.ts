/**
 * The driver seam of the SQLite adapter: the few structural shapes it needs from a database
 * handle, and the loading of one at run time.
 *
 * Two drivers fit: `better-sqlite3` on Node and `bun:sqlite` on Bun. Both are loaded with a
 * dynamic `import()` from {@link openDatabase} only, so importing this module (and the whole
 * `fluxflow/sqlite` graph) costs nothing and works on a machine that has neither: the driver is
 * an optional peer that is needed only once a store is initialised.
 *
 * {@link SqliteConnection} hides the three ways the drivers differ that matter here: how named
 * parameters are bound, what `get()` returns when there is no row, and statement finalisation.
 */
import { StorageError } from '../../errors.js'

/** A value SQLite can bind. Booleans are not bound: the adapter passes 0 and 1. */
export type SqlValue = string | number | bigint | null | Uint8Array

/** Named parameters, keyed by name without the `$` the SQL uses (`$id` → `{ id }`). */
export type SqlParams = Readonly<Record<string, SqlValue>>

/** A prepared statement, as better-sqlite3 and bun:sqlite both shape it. */
export interface SqliteStatementLike {
  run(...params: any[]): unknown
  get(...params: any[]): unknown
  all(...params: any[]): unknown[]
  /** bun:sqlite only: releases the statement before the database closes. */
  finalize?(): void
}

/**
 * A database handle: a better-sqlite3 `Database` or a bun:sqlite `Database` fits as is. Pass
 * one as `database` to share a connection the application already has.
 */
export interface SqliteDatabaseLike {
  prepare(sql: string): SqliteStatementLike
  exec(sql: string): unknown
  close(): unknown
}

/** Which runtime loads the driver. */
export type SqliteRuntime = 'node' | 'bun'

/** The runtime this process runs on: Bun exposes `process.versions.bun` and a global `Bun`. */
export function detectRuntime(): SqliteRuntime {
  const bunGlobal = (globalThis as { Bun?: unknown }).Bun
  return bunGlobal !== undefined || typeof process?.versions?.bun === 'string' ? 'bun' : 'node'
}

type DatabaseConstructor = new (path: string, options?: Record<string, unknown>) => SqliteDatabaseLike

/**
 * Opens a database file with the driver of the current runtime.
 *
 * The specifiers are held in variables so that neither TypeScript nor a bundler tries to
 * resolve a driver the user may not have installed.
 */
export async function openDatabase(
  path: string,
  runtime: SqliteRuntime = detectRuntime(),
): Promise<SqliteDatabaseLike> {
  if (runtime === 'bun') {
    const specifier = 'bun:sqlite'
    const { Database } = (await import(specifier)) as { Database: DatabaseConstructor }
    // strict: named parameters bind without their `$` prefix and a missing one throws.
    return new Database(path, { create: true, strict: true })
  }
  let Database: DatabaseConstructor
  try {
    const specifier = 'better-sqlite3'
    const mod = (await import(specifier)) as { default?: DatabaseConstructor }
    Database = mod.default ?? (mod as unknown as DatabaseConstructor)
  } catch (error) {
    throw new StorageError(
      'SqliteStorage needs the better-sqlite3 driver on Node, which is an optional peer dependency ' +
        'of fluxflow: run `npm install better-sqlite3@12`',
      { cause: error },
    )
  }
  try {
    return new Database(path)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const hint = /bindings|NODE_MODULE_VERSION|invalid ELF|was compiled against/i.test(message)
      ? ' (the native build of better-sqlite3 does not match this Node: run `npm rebuild better-sqlite3`)'
      : ''
    throw new StorageError(`Cannot open SQLite database "${path}": ${message}${hint}`, { cause: error })
  }
}

/**
 * A database handle with the adapter's calling convention: named parameters as plain objects,
 * `undefined` for no row, prepared statements cached by their SQL text.
 */
export class SqliteConnection {
  readonly handle: SqliteDatabaseLike
  readonly #statements = new Map<string, SqliteStatementLike>()
  /** Whether parameter keys need the `$` prefix of the SQL (bun:sqlite handles not opened `strict`). */
  readonly #prefixKeys: boolean

  constructor(handle: SqliteDatabaseLike) {
    this.handle = handle
    this.#prefixKeys = !bindsBareKeys(handle)
  }

  /** Runs a statement that returns no rows; returns the number of rows it changed. */
  run(sql: string, params: SqlParams = EMPTY): number {
    const result = this.#statement(sql).run(this.#bind(params)) as { changes?: number | bigint } | undefined
    if (result && result.changes !== undefined) return Number(result.changes)
    // Old bun:sqlite versions return nothing from run().
    return Number((this.get<{ n: number }>('SELECT changes() AS n') ?? { n: 0 }).n)
  }

  /** The first row, or undefined (bun:sqlite says null). */
  get<T>(sql: string, params: SqlParams = EMPTY): T | undefined {
    const row = this.#statement(sql).get(this.#bind(params))
    return (row ?? undefined) as T | undefined
  }

  all<T>(sql: string, params: SqlParams = EMPTY): T[] {
    return this.#statement(sql).all(this.#bind(params)) as T[]
  }

  /** Runs one parameterless statement (DDL, PRAGMA, transaction control). */
  exec(sql: string): void {
    this.handle.exec(sql)
  }

  /** Releases cached statements and, when `closeHandle`, the database. */
  close(closeHandle: boolean): void {
    for (const statement of this.#statements.values()) statement.finalize?.()
    this.#statements.clear()
    if (closeHandle) this.handle.close()
  }

  #statement(sql: string): SqliteStatementLike {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.handle.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #bind(params: SqlParams): Record<string, SqlValue> {
    if (!this.#prefixKeys) return params as Record<string, SqlValue>
    const out: Record<string, SqlValue> = {}
    for (const key of Object.keys(params)) out[`$${key}`] = params[key] ?? null
    return out
  }
}

const EMPTY: SqlParams = Object.freeze({})

/**
 * better-sqlite3 and strict bun:sqlite bind `{ x }` to `$x`; a bun:sqlite handle opened without
 * `strict` wants `{ $x }` (and older versions silently bind NULL for `{ x }`), so ask the handle.
 */
function bindsBareKeys(handle: SqliteDatabaseLike): boolean {
  const probe = handle.prepare('SELECT $probe AS probe')
  try {
    const row = probe.get({ probe: 1 }) as { probe?: unknown } | null | undefined
    return row?.probe === 1
  } catch {
    return false
  } finally {
    probe.finalize?.()
  }
}
