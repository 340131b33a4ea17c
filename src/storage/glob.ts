// Redis-compatible glob matching (stringmatchlen) over binary keys held as latin1 strings:
// * ? [abc] [^a] [a-z] and backslash escapes. Pure; never allocates per character.

/** Maximum recursion depth for '*' backtracking: bounds pathological patterns. */
const GLOB_NESTING_MAX = 1000;

export function globMatch(pattern: string, str: string, nocase = false): boolean {
  return match(pattern, 0, str, 0, nocase, 0, { skipLongerMatches: false });
}

/** Shared by one globMatch call's recursion (Redis stringmatchlen's skipLongerMatches). */
interface MatchState {
  skipLongerMatches: boolean;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

function match(p: string, pi: number, s: string, si: number, nocase: boolean, depth: number, st: MatchState): boolean {
  if (depth > GLOB_NESTING_MAX) return false;
  while (pi < p.length) {
    const pc = p.charCodeAt(pi);
    switch (pc) {
      case 42 /* * */: {
        while (pi + 1 < p.length && p.charCodeAt(pi + 1) === 42) pi++;
        if (pi + 1 === p.length) return true;
        for (let k = si; k <= s.length; k++) {
          if (match(p, pi + 1, s, k, nocase, depth + 1, st)) return true;
          if (st.skipLongerMatches) return false;
        }
        // The rest of the pattern matches from nowhere in the rest of the string, so an earlier
        // '*' taking more characters cannot help either: stop every enclosing '*' loop (without
        // this, a pattern like a*a*a*...*b is exponential in the number of stars).
        st.skipLongerMatches = true;
        return false;
      }
      case 63 /* ? */:
        if (si >= s.length) return false;
        si++;
        break;
      case 91 /* [ */: {
        if (si >= s.length) return false;
        pi++;
        const not = p.charCodeAt(pi) === 94; /* ^ */
        if (not) pi++;
        let matched = false;
        const c = nocase ? lower(s.charCodeAt(si)) : s.charCodeAt(si);
        for (;;) {
          if (pi >= p.length) {
            pi--; // unterminated class: Redis treats the end as closing it
            break;
          }
          const cc = p.charCodeAt(pi);
          if (cc === 93 /* ] */) break;
          if (cc === 92 /* \ */ && pi + 1 < p.length) {
            pi++;
            if ((nocase ? lower(p.charCodeAt(pi)) : p.charCodeAt(pi)) === c) matched = true;
          } else if (pi + 2 < p.length && p.charCodeAt(pi + 1) === 45 /* - */) {
            let start = p.charCodeAt(pi);
            let end = p.charCodeAt(pi + 2);
            if (start > end) [start, end] = [end, start];
            if (nocase) {
              start = lower(start);
              end = lower(end);
            }
            pi += 2;
            if (c >= start && c <= end) matched = true;
          } else if ((nocase ? lower(cc) : cc) === c) {
            matched = true;
          }
          pi++;
        }
        if (not) matched = !matched;
        if (!matched) return false;
        si++;
        break;
      }
      default: {
        // A backslash escapes the next pattern char, which is then compared literally.
        if (pc === 92 && pi + 1 < p.length) pi++;
        if (si >= s.length) return false;
        const a = p.charCodeAt(pi);
        const b = s.charCodeAt(si);
        if (nocase ? lower(a) !== lower(b) : a !== b) return false;
        si++;
      }
    }
    pi++;
  }
  return si === s.length;
}
