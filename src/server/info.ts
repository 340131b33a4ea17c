// INFO: a registry of section providers and the text format (`# Section` headers,
// `field:value` lines, CRLF). Owns section order and selection (default/all/everything);
// it never computes a field itself — each subsystem registers a provider for its section.

/** One INFO field: name and value as printed after the colon. */
export type InfoField = readonly [string, string | number];
export type InfoProvider = () => readonly InfoField[] | readonly string[];

interface Section {
  readonly name: string; // lower-case
  readonly title: string; // as printed after '# '
  readonly provider: InfoProvider;
  /** Part of plain INFO (Redis: default sections); others only by name or "all"/"everything". */
  readonly isDefault: boolean;
}

export class InfoRegistry {
  private readonly sections: Section[] = [];

  /** Add or replace a section (the replication layer replaces "replication"). */
  register(title: string, provider: InfoProvider, isDefault = true): void {
    const name = title.toLowerCase();
    const s: Section = { name, title, provider, isDefault };
    const i = this.sections.findIndex((x) => x.name === name);
    if (i >= 0) this.sections[i] = s;
    else this.sections.push(s);
  }

  has(name: string): boolean {
    return this.sections.some((s) => s.name === name.toLowerCase());
  }

  /** Redis semantics: no args = default sections; "all" = all but heavy ones; "everything"; or names. */
  render(requested: readonly string[]): string {
    const wanted = requested.map((r) => r.toLowerCase());
    let chosen: Section[];
    if (wanted.length === 0 || wanted.includes('default')) chosen = this.sections.filter((s) => s.isDefault);
    else if (wanted.includes('all') || wanted.includes('everything')) chosen = [...this.sections];
    else chosen = this.sections.filter((s) => wanted.includes(s.name));
    const parts: string[] = [];
    for (const s of chosen) {
      const lines = [`# ${s.title}`];
      for (const f of s.provider()) lines.push(typeof f === 'string' ? f : `${f[0]}:${f[1]}`);
      parts.push(lines.join('\r\n') + '\r\n');
    }
    return parts.join('\r\n');
  }
}
