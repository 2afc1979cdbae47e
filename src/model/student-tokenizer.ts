/**
 * The student tokenizer: character-level over the training text by default, or a small BPE trained
 * on it. Special tokens frame an SFT example:
 *
 *   <bos> prompt <resp> response <eos>      (loss on the response tokens and <eos> only)
 *
 * Generation feeds `<bos> prompt <resp>` and stops at <eos>.
 */

export const PAD = "<pad>";
export const BOS = "<bos>";
export const RESP = "<resp>";
export const EOS = "<eos>";
export const UNK = "<unk>";
const SPECIALS = [PAD, BOS, RESP, EOS, UNK] as const;

export interface TokenizerJSON {
  kind: "char" | "bpe";
  /** Symbols by id; ids 0-4 are the specials in the order pad, bos, resp, eos, unk. */
  vocab: string[];
  /** BPE only: merges in rank order, each as the pair of symbols merged. */
  merges?: Array<[string, string]>;
}

/** The student's tokenizer: text to the toy student's token ids and back (not a teacher-token counter). */
export class StudentTokenizer {
  readonly kind: "char" | "bpe";
  readonly vocab: readonly string[];
  readonly merges: ReadonlyArray<[string, string]>;
  readonly padId = 0;
  readonly bosId = 1;
  readonly respId = 2;
  readonly eosId = 3;
  readonly unkId = 4;
  private readonly ids = new Map<string, number>();
  private readonly mergeRank = new Map<string, number>();
  private readonly wordCache = new Map<string, number[]>();

  private constructor(json: TokenizerJSON) {
    this.kind = json.kind;
    this.vocab = json.vocab;
    this.merges = json.merges ?? [];
    json.vocab.forEach((s, i) => this.ids.set(s, i));
    this.merges.forEach(([a, b], i) => this.mergeRank.set(a + "\u0000" + b, i));
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** A character-level tokenizer over every character of `texts`. */
  static trainChar(texts: Iterable<string>): StudentTokenizer {
    const chars = new Set<string>();
    for (const t of texts) for (const ch of t) chars.add(ch);
    const vocab = [...SPECIALS, ...[...chars].sort()];
    return new StudentTokenizer({ kind: "char", vocab });
  }

  /**
   * A byte-pair tokenizer: characters plus `merges` merges learned on `texts`, within words
   * (a word is a run of letters, of digits, or of other characters, with its leading space).
   */
  static trainBPE(texts: Iterable<string>, merges: number): StudentTokenizer {
    const list = [...texts];
    const base = StudentTokenizer.trainChar(list);
    const wordFreq = new Map<string, number>();
    for (const t of list) for (const w of splitWords(t)) wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1);
    const words = [...wordFreq.entries()].map(([w, f]) => ({ syms: [...w], f }));
    const vocab = [...base.vocab];
    const learned: Array<[string, string]> = [];
    for (let m = 0; m < merges; m++) {
      const counts = new Map<string, number>();
      for (const { syms, f } of words) {
        for (let i = 0; i + 1 < syms.length; i++) {
          const k = syms[i] + "\u0000" + syms[i + 1];
          counts.set(k, (counts.get(k) ?? 0) + f);
        }
      }
      let best = "";
      let bestN = 1; // a pair seen once is not worth a symbol
      for (const [k, n] of counts) if (n > bestN || (n === bestN && best !== "" && k < best)) [best, bestN] = [k, n];
      if (best === "") break;
      const [a, b] = best.split("\u0000") as [string, string];
      learned.push([a, b]);
      vocab.push(a + b);
      for (const w of words) w.syms = mergePair(w.syms, a, b);
    }
    return new StudentTokenizer({ kind: "bpe", vocab, merges: learned });
  }

  static fromJSON(json: unknown, where = "tokenizer"): StudentTokenizer {
    if (json === null || typeof json !== "object") throw new Error(`${where}: expected an object`);
    const j = json as Partial<TokenizerJSON>;
    if (j.kind !== "char" && j.kind !== "bpe") throw new Error(`${where}.kind: expected "char" or "bpe"`);
    if (!Array.isArray(j.vocab) || !j.vocab.every((s) => typeof s === "string")) throw new Error(`${where}.vocab: expected an array of strings`);
    SPECIALS.forEach((s, i) => {
      if (j.vocab![i] !== s) throw new Error(`${where}.vocab[${i}]: expected ${s}`);
    });
    if (j.merges !== undefined && (!Array.isArray(j.merges) || !j.merges.every((p) => Array.isArray(p) && p.length === 2))) {
      throw new Error(`${where}.merges: expected an array of [string, string] pairs`);
    }
    return new StudentTokenizer({ kind: j.kind, vocab: j.vocab, merges: j.merges });
  }

  toJSON(): TokenizerJSON {
    return this.kind === "bpe" ? { kind: "bpe", vocab: [...this.vocab], merges: this.merges.map(([a, b]) => [a, b]) } : { kind: "char", vocab: [...this.vocab] };
  }

  /** Ids of plain text (no specials). Unknown characters map to <unk>. */
  encode(text: string): number[] {
    const out: number[] = [];
    if (this.kind === "char") {
      for (const ch of text) out.push(this.ids.get(ch) ?? this.unkId);
      return out;
    }
    for (const w of splitWords(text)) {
      let ids = this.wordCache.get(w);
      if (!ids) {
        ids = this.bpeWord(w);
        if (this.wordCache.size < 100_000) this.wordCache.set(w, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  private bpeWord(w: string): number[] {
    let syms = [...w];
    for (;;) {
      let bestRank = Infinity;
      let bestI = -1;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = this.mergeRank.get(syms[i] + "\u0000" + syms[i + 1]);
        if (r !== undefined && r < bestRank) [bestRank, bestI] = [r, i];
      }
      if (bestI < 0) break;
      const [a, b] = this.merges[bestRank]!;
      syms = mergePair(syms, a, b);
    }
    return syms.map((s) => this.ids.get(s) ?? this.unkId);
  }

  /** Text of ids; specials are dropped. */
  decode(ids: Iterable<number>): string {
    let s = "";
    for (const id of ids) if (id >= SPECIALS.length && id < this.vocab.length) s += this.vocab[id];
    return s;
  }

  /** `<bos> prompt <resp>`: what generation starts from. */
  encodePrompt(prompt: string): number[] {
    return [this.bosId, ...this.encode(prompt), this.respId];
  }

  /**
   * A full training example: `<bos> prompt <resp> response <eos>` and, per position, whether the
   * token is a response target (response tokens and <eos>).
   */
  encodeExample(prompt: string, response: string): { ids: number[]; responseStart: number } {
    const p = this.encodePrompt(prompt);
    return { ids: [...p, ...this.encode(response), this.eosId], responseStart: p.length };
  }
}

function mergePair(syms: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < syms.length; i++) {
    if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
      out.push(a + b);
      i++;
    } else out.push(syms[i]!);
  }
  return out;
}

function splitWords(text: string): string[] {
  return text.match(/ ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+/gu) ?? [];
}
