// The server's reasons are English (programs read them); the officer reads them in Chinese, from
// the server's own catalogue (/tablet/messages.json, cached with the shell). A reason with values
// in it (a limit, a date, a status) was made on the server from a catalogue template with
// `%(name)s` in each value's place: it is known again by that template and its Chinese is filled
// in with the same values, as the server does for its problem details (app/web/i18n.py).

const PLACEHOLDER = /%\((\w+)\)s/g;
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The same templates as the server's app/web/i18n.py `phrase_patterns`: text values only
// (`%(name)s`), and words of their own (a template of values alone would match anything); the
// most words first, so a general template takes no sentence a particular one made. Equals keep
// the catalogue's order (messages.json is sorted as the server's catalogue is; the sort is stable).
function templates(messages) {
  const found = [];
  for (const [id, translated] of Object.entries(messages)) {
    const pieces = id.split(/%\((\w+)\)s/); // text, name, text, name, …, text
    const words = pieces.filter((_, i) => i % 2 === 0).join("");
    if (pieces.length === 1 || words.includes("%") || !/[A-Za-z]/.test(words)) continue;
    const names = pieces.filter((_, i) => i % 2 === 1);
    const source = pieces.map((piece, i) => (i % 2 ? "(.+?)" : escape(piece))).join("");
    const length = [...words].length; // characters, as Python counts them
    found.push({ pattern: new RegExp(`^${source}$`, "s"), names, translated, length });
  }
  return found.sort((a, b) => b.length - a.length);
}

// A function from the server's English to the officer's Chinese: `codes` first (the protocol's
// refusals, which carry no sentence), then the catalogue's sentences, then its templates; what
// none of them knows, and any reason with a `%` in it, is shown as the server wrote it (the
// server's `translate_reason` leaves those too). Only the objects' own keys count: a reason such
// as "constructor" is no translation.
export function translator(messages, codes = {}) {
  const known = templates(messages);
  return (reason) => {
    if (typeof reason !== "string") return String(reason);
    if (Object.hasOwn(codes, reason)) return codes[reason];
    if (reason.includes("%")) return reason;
    if (Object.hasOwn(messages, reason)) return messages[reason];
    for (const { pattern, names, translated } of known) {
      const found = pattern.exec(reason);
      if (found) return translated.replace(PLACEHOLDER, (_, name) => found[names.indexOf(name) + 1]);
    }
    return reason;
  };
}
