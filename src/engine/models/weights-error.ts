/**
 * A weights file that was refused: unreadable, not a format the readers know, holding a pickle
 * global the safe reader does not allow, or lacking what the model needs. `file` names it, `reason`
 * says why (the message as the reader worded it).
 */
export class WeightsError extends Error {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(reason.includes(file) ? reason : `weights ${file}: ${reason}`, options);
    this.name = 'WeightsError';
    this.file = file;
    this.reason = reason;
  }
}
