// An implementation's text (its name, its errors, its standard error, lines that are not
// JSON) is printed in reports: with its control and bidi-formatting characters escaped, it
// cannot reorder, hide or forge what is around it.

/** Control characters of an implementation's text, shown escaped: it cannot draw on the report or the terminal. */
export function printable(text: string, multiline = false): string {
  // eslint-disable-next-line no-control-regex
  const control = multiline ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g : /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;
  return text.replace(control, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
