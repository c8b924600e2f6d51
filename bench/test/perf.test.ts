import { describe, expect, it } from 'vitest';
import { LANDMARKS, parseEventCount, parseLandmarks, parseTop } from '../src/report/perf.js';

// Lines as `perf report --stdio -g none` printed them for a login window of our server (perf 6.1).
const SELF = `# Samples: 11K of event 'cpu-clock:ppp' (time slices: 846,853)
# Event count (approx.): 5786391750
#
# Overhead  Shared Object        Symbol
# ........  ...................  ..........
#
     1.77%  node                 [.] sha512_block_data_order_avx2
     1.56%  libc.so.6            [.] _int_malloc
     1.08%  [kernel.kallsyms]    [k] _raw_spin_unlock_irqrestore
     0.77%  node                 [.] v8::internal::LookupIterator::LookupInRegularHolder<false>
`;

const CHILDREN = `# Event count (approx.): 5786391750
    77.44%     0.03%  [.] uv_run
    47.77%     0.04%  [.] Builtins_JSEntry
    18.64%     0.10%  [.] state_machine.part.0
    13.70%     0.00%  [k] entry_SYSCALL_64_after_hwframe
    13.70%     0.50%  [k] do_syscall_64
    11.50%     0.00%  [.] node::(anonymous namespace)::PlatformWorkerThread
     1.56%     0.09%  [.] ssl3_write_bytes
     0.93%     0.00%  [.] v8::internal::Heap::CollectGarbage
     0.61%     0.08%  [.] v8::internal::ScavengerCollector::CollectGarbage
`;

describe('perf report parsing', () => {
  it('reads the event count, nanoseconds of cpu-clock', () => {
    expect(parseEventCount(SELF)).toBe(5_786_391_750);
    expect(parseEventCount('# Samples: 0\n')).toBe(0);
  });

  it('reads self shares with their object, kernel and user space, in order, up to the limit', () => {
    expect(parseTop(SELF, 3)).toEqual([
      { symbol: 'sha512_block_data_order_avx2', object: 'node', percent: 1.77 },
      { symbol: '_int_malloc', object: 'libc.so.6', percent: 1.56 },
      { symbol: '_raw_spin_unlock_irqrestore', object: '[kernel.kallsyms]', percent: 1.08 },
    ]);
    expect(parseTop(SELF, 10)[3]).toEqual({
      symbol: 'v8::internal::LookupIterator::LookupInRegularHolder<false>',
      object: 'node',
      percent: 0.77,
    });
  });

  it('gives every landmark its inclusive share, 0 when no frame of it was sampled', () => {
    const shares = Object.fromEntries(parseLandmarks(CHILDREN).map((l) => [l.what, l.percent]));
    expect(Object.keys(shares)).toEqual(LANDMARKS.map((l) => l.what));
    expect(shares).toEqual({
      'JavaScript, and what it calls': 47.77,
      'OpenSSL: TLS handshakes': 18.64,
      'OpenSSL: TLS record encryption': 1.56,
      PBKDF2: 0,
      'system calls': 13.7,
      'V8 garbage collection on the main thread': 0.93,
      "V8's background threads (marking, compiling)": 11.5,
      "libuv's thread pool": 0,
    });
  });
});
