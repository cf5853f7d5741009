import { InputTooLarge } from "./input-error.js";

/** Bounds on client-shaped structure: parsed bodies and Struct metadata. */
export interface ShapeBounds {
  maxJsonDepth: number;
  maxJsonArrayLength: number;
  maxJsonKeys: number;
}

/**
 * Throws InputTooLarge (HTTP 400) when `value` nests deeper than maxJsonDepth or holds an array
 * longer than maxJsonArrayLength or an object with more than maxJsonKeys keys. Iterative, so a
 * value nested far deeper than the call stack allows is refused rather than crashing the walk; the
 * policy's own evaluation recurses and must never see such a value.
 */
export function checkShape(value: unknown, bounds: ShapeBounds, what: string): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const v = item.value;
    if (v === null || typeof v !== "object") continue;
    const depth = item.depth + 1;
    if (depth > bounds.maxJsonDepth) throw new InputTooLarge(`${what} is nested more than ${bounds.maxJsonDepth} levels deep`, 400);
    if (Array.isArray(v)) {
      if (v.length > bounds.maxJsonArrayLength) throw new InputTooLarge(`${what} has an array of ${v.length} elements, more than ${bounds.maxJsonArrayLength}`, 400);
      for (const element of v) if (element !== null && typeof element === "object") stack.push({ value: element, depth });
      continue;
    }
    let keys = 0;
    for (const key in v) {
      if (++keys > bounds.maxJsonKeys) throw new InputTooLarge(`${what} has an object with more than ${bounds.maxJsonKeys} keys`, 400);
      const child = (v as Record<string, unknown>)[key];
      if (child !== null && typeof child === "object") stack.push({ value: child, depth });
    }
  }
}
