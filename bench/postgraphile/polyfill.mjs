// Node 20 (Debian 12's) lacks Promise.withResolvers, which PostGraphile 5's
// executor uses; Node 22 has it. Imported before anything else.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
