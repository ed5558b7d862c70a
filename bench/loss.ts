// Benchmark helper: what a fast ping (lab.pinger, every 5 ms) saw across an
// event. Contract: from the replies it printed, the probes that were never
// answered (counted from the first probe to the last one answered; a probe
// still in flight when the pinger stopped is not counted) and the longest time
// between two consecutive answers (the interval itself when nothing was lost).

export interface ProbeLoss {
  lost: number;
  maxGapMs: number;
}

/** `replies` (wall ms) and `seqs` (icmp_seq, from 1) in the order ping printed them. */
export function probeLoss(r: { replies: number[]; seqs: number[] }): ProbeLoss {
  const answered = new Set(r.seqs);
  const last = Math.max(0, ...r.seqs);
  const times = [...r.replies].sort((a, b) => a - b);
  let maxGapMs = times.length < 2 ? NaN : 0;
  for (let i = 1; i < times.length; i++) maxGapMs = Math.max(maxGapMs, times[i]! - times[i - 1]!);
  return { lost: last - answered.size, maxGapMs };
}
