// What the kernel says a process of a bench costs, read from /proc, so a figure is the measured
// process's own and not the bench's (which hosts the API server or the load generator).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU of `pid` so far, in seconds (/proc/<pid>/stat utime and stime). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/**
 * Resident memory now and its high-water mark, in MB (/proc/<pid>/status VmRSS, VmHWM), and
 * what the resident part is: anonymous (heaps, buffers) or file pages (the node binary's code
 * and data, shared libraries).
 */
export function processMemoryMb(pid: number): { rssMb: number; peakMb: number; anonMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string): number => Math.round(Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) / 102.4) / 10;
  return { rssMb: mb('VmRSS'), peakMb: mb('VmHWM'), anonMb: mb('RssAnon'), fileMb: mb('RssFile') };
}
