import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../src/index.js'
import { runStoreConformance } from '../src/testing/index.js'

runStoreConformance({ describe, it, expect }, 'MemoryStorage', () => new MemoryStorage())
