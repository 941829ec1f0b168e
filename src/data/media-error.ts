/**
 * A video file, frame folder or encoded video that cannot be read: `file` names it (`<buffer>` for
 * bytes given in memory), `reason` says what went wrong without the file name.
 */
export class MediaError extends Error {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'MediaError';
    this.file = file;
    this.reason = reason;
  }
}
