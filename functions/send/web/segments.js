// SMS segment counting, the server's rules (sinch_gateway/domain/segments.py): GSM-7 with its
// extension table, otherwise UCS-2. A test runs this over a corpus and compares with the server.

export const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
// Sent as ESC + character: two septets each.
export const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

export const LIMITS = {
  GSM: { single: 160, multi: 153 },
  UNICODE: { single: 70, multi: 67 },
};

// Segments needed when a character (1 or 2 units) may not be split across segments.
function pack(sizes, single, multi) {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > multi) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return segments;
}

// {encoding: "GSM" | "UNICODE", segments, units}: units are septets for GSM, UTF-16 code units
// for UNICODE. `for...of` walks code points, as Python walks a str.
export function countSegments(text) {
  const chars = [...text];
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const encoding = gsm ? "GSM" : "UNICODE";
  const sizes = gsm
    ? chars.map((c) => (GSM7_EXTENSION.has(c) ? 2 : 1))
    : chars.map((c) => (c.codePointAt(0) > 0xffff ? 2 : 1));
  const { single, multi } = LIMITS[encoding];
  return { encoding, segments: pack(sizes, single, multi), units: sizes.reduce((a, b) => a + b, 0) };
}

// The characters that make a text UCS-2, each once, in order.
export function nonGsmCharacters(text) {
  return [...new Set([...text].filter((c) => !GSM7_BASIC.has(c) && !GSM7_EXTENSION.has(c)))];
}
