/** Base of the one error hierarchy: every error ProbeWatch raises on purpose is one of these. */
export class ProbeWatchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value is wrong; the message names the field. */
export class ConfigError extends ProbeWatchError {}

/** A user-supplied input (format string, file, option) cannot be used as given. */
export class InputError extends ProbeWatchError {}

/** A port (state store, publisher, line source) failed; `cause` carries the adapter's error. */
export class AdapterError extends ProbeWatchError {}
