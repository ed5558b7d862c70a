// Lab (process accounting). Contract: how much CPU a process (an agent) took
// over a window, from /proc: `cpuPercent` — utime + stime of all its threads
// (/proc/PID/stat), as % of one core — and `busyPercent` — how long its main
// thread (the event loop) was running or waiting for a CPU
// (/proc/PID/schedstat), as % of the window. A process starved of CPU by
// others shows a low cpuPercent but a high busyPercent.

import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]); // utime + stime
}

/** Main thread: ns on a CPU and ns runnable but waiting for one. */
function sched(pid: number): { runNs: number; waitNs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runNs: run!, waitNs: wait! };
}

export interface CpuWindow {
  seconds: number;
  cpuPercent: number;
  busyPercent: number;
}

/** Starts a window on `pid`; stop() measures it. */
export function cpuWindow(pid: number): { stop: () => CpuWindow } {
  const t0 = process.hrtime.bigint();
  const ticks0 = cpuTicks(pid);
  const s0 = sched(pid);
  return {
    stop: () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const s1 = sched(pid);
      return {
        seconds: secs,
        cpuPercent: ((cpuTicks(pid) - ticks0) / TICKS / secs) * 100,
        busyPercent: ((s1.runNs - s0.runNs + s1.waitNs - s0.waitNs) / 1e9 / secs) * 100,
      };
    },
  };
}
