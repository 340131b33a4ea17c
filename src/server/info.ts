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

  /**
   * Redis semantics: no args = the default sections; otherwise the union of every argument,
   * where "default" adds the default sections, "all" and "everything" add every section, and
   * any other word adds the section of that name (case-insensitive). Each section once, in
   * registration order.
   */
  render(requested: readonly string[]): string {
    const wanted = requested.map((r) => r.toLowerCase());
    const every = wanted.includes('all') || wanted.includes('everything');
    const defaults = wanted.length === 0 || wanted.includes('default');
    const chosen = this.sections.filter((s) => every || (defaults && s.isDefault) || wanted.includes(s.name));
    const parts: string[] = [];
    for (const s of chosen) {
      const lines = [`# ${s.title}`];
      for (const f of s.provider()) lines.push(typeof f === 'string' ? f : `${f[0]}:${f[1]}`);
      parts.push(lines.join('\r\n') + '\r\n');
    }
    return parts.join('\r\n');
  }
}
