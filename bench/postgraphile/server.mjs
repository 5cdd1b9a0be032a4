// PostGraphile 5 over Rapport's own database, as a peer for `make bench`:
// the same seeded data, the same HS256 tokens (issuer, audience and expiry
// checked, a missing or bad token refused), a pool of the same size. It
// applies no access rule and writes no audit; it is not part of the product.
//
// Environment: DATABASE_URL, JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE,
// POOL_MAX (default 4), PORT (default 0: any free port). Prints
// "listening <port>" on stdout once it serves /graphql.
import "./polyfill.mjs";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";

const env = (k, d) => process.env[k] ?? d;
const secret = env("JWT_SECRET");
if (!secret || !env("DATABASE_URL")) {
  console.error("DATABASE_URL and JWT_SECRET are required");
  process.exit(2);
}
const verifyOptions = {
  algorithms: ["HS256"],
  issuer: env("JWT_ISSUER", "rapport-dev"),
  audience: env("JWT_AUDIENCE", "rapport"),
};

const pool = new pg.Pool({ connectionString: env("DATABASE_URL"), max: Number(env("POOL_MAX", "4")) });

function unauthenticated(message) {
  return Object.assign(new Error(message), { statusCode: 401 });
}

const preset = {
  extends: [PostGraphileAmberPreset],
  // Rapport's foreign-key indexes are partial (WHERE x IS NOT NULL), which
  // PostGraphile does not recognise; without this it hides those relations
  // (a patient's care relationships) and their conditions.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [makePgService({ pool, schemas: ["public"] })],
  grafserv: { graphqlPath: "/graphql", watch: false, graphiql: false },
  grafast: {
    // Every request must carry a valid token, as with Rapport.
    context(requestContext) {
      const header = requestContext.node?.req?.headers?.authorization ?? "";
      const m = /^Bearer (.+)$/i.exec(header);
      if (!m) throw unauthenticated("authentication required");
      let claims;
      try {
        claims = jwt.verify(m[1], secret, verifyOptions);
      } catch {
        throw unauthenticated("invalid token");
      }
      return { pgSettings: { "jwt.claims.sub": String(claims.sub), "jwt.claims.org": String(claims.org ?? "") } };
    },
  },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
serv.addTo(server).then(() => {
  server.listen(Number(env("PORT", "0")), "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`);
  });
});

const stop = async () => {
  server.close();
  await pgl.release();
  await pool.end();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
