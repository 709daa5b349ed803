/**
 * A value built the first time a test touches it. A suite that validates a flow when its module
 * loads runs the loader outside any test: Stryker then counts every loader mutant it reaches as
 * static and runs every suite against each one, which turns a whole-core mutation run from
 * about an hour into several. Built on first use, the flow is validated inside a test.
 */
export function onFirstUse<T extends object>(build: () => T): T {
  let value: T | undefined;
  const real = () => (value ??= build());
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(real(), key),
    set: (_, key, v) => Reflect.set(real(), key, v),
    has: (_, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      return d && { ...d, configurable: true };
    },
  });
}
