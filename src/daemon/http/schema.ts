/**
 * The JSON Schema subset the HTTP API's request bodies are written in. The same schema objects
 * are embedded in the OpenAPI document (api.ts) and checked by validate() here, so what the
 * document says is what the daemon enforces.
 */

export type Schema =
  | { readonly type: 'object'; readonly properties: Readonly<Record<string, Schema>>; readonly required?: readonly string[]; readonly additionalProperties: false; readonly description?: string }
  | { readonly type: 'string'; readonly enum?: readonly string[]; readonly pattern?: string; readonly maxLength?: number; readonly description?: string }
  | { readonly type: 'integer'; readonly minimum?: number; readonly maximum?: number; readonly description?: string }
  | { readonly type: 'number'; readonly minimum?: number; readonly maximum?: number; readonly description?: string }
  | { readonly type: 'boolean'; readonly description?: string }
  | { readonly type: 'array'; readonly items: Schema; readonly maxItems?: number; readonly description?: string };

/** First violation as "path: what is wrong", or null when `v` fits. */
export function validate(s: Schema, v: unknown, path = 'body'): string | null {
  switch (s.type) {
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${path}: must be an object`;
      const o = v as Record<string, unknown>;
      for (const k of s.required ?? []) if (o[k] === undefined) return `${path}.${k}: is required`;
      for (const k of Object.keys(o)) {
        const p = s.properties[k];
        if (!p) return `${path}.${k}: unknown property (known: ${Object.keys(s.properties).join(', ')})`;
        const e = validate(p, o[k], `${path}.${k}`);
        if (e) return e;
      }
      return null;
    }
    case 'string':
      if (typeof v !== 'string') return `${path}: must be a string`;
      if (s.maxLength !== undefined && v.length > s.maxLength) return `${path}: longer than ${s.maxLength} characters`;
      if (s.enum && !s.enum.includes(v)) return `${path}: must be one of ${s.enum.join(', ')}`;
      if (s.pattern && !new RegExp(s.pattern).test(v)) return `${path}: does not match ${s.pattern}`;
      return null;
    case 'integer':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || (s.type === 'integer' && !Number.isInteger(v))) return `${path}: must be ${s.type === 'integer' ? 'an integer' : 'a number'}`;
      if (s.minimum !== undefined && v < s.minimum) return `${path}: must be at least ${s.minimum}`;
      if (s.maximum !== undefined && v > s.maximum) return `${path}: must be at most ${s.maximum}`;
      return null;
    case 'boolean':
      return typeof v === 'boolean' ? null : `${path}: must be true or false`;
    case 'array': {
      if (!Array.isArray(v)) return `${path}: must be an array`;
      if (s.maxItems !== undefined && v.length > s.maxItems) return `${path}: more than ${s.maxItems} items`;
      for (let i = 0; i < v.length; i++) {
        const e = validate(s.items, v[i], `${path}[${i}]`);
        if (e) return e;
      }
      return null;
    }
  }
}
