/**
 * An image or video that cannot be used: unreadable, damaged, truncated, too large, or of a kind
 * the decoders do not read. The message names the file and the reason
 * (`image frames/img_00001.jpg: cannot decode (...)`), and both are fields for callers that
 * substitute the input and warn.
 */
export class MediaError extends Error {
  /** The file (or, for data decoded from memory, the name the caller gave it). */
  readonly file: string;
  /** Why it cannot be used, without the file's name. */
  readonly reason: string;
  readonly kind: 'image' | 'video';

  constructor(kind: 'image' | 'video', file: string, reason: string) {
    super(`${kind} ${file}: ${reason}`);
    this.name = 'MediaError';
    this.kind = kind;
    this.file = file;
    this.reason = reason;
  }
}
