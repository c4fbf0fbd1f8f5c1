// Verify a scangate token in Node with jose (npm install jose).
//   node verify.mjs <token> <public_url> <audience>
import { createRemoteJWKSet, jwtVerify } from "jose";

const [token, publicUrl, audience] = process.argv.slice(2);
// Fetched once and cached; refetched when a token names an unknown `kid` (key rotation).
const jwks = createRemoteJWKSet(new URL(`${publicUrl}/.auth/jwks.json`));

const { payload } = await jwtVerify(token, jwks, {
  algorithms: ["ES256"],
  issuer: publicUrl,
  audience,
  requiredClaims: ["exp", "sub"],
});
console.log(JSON.stringify(payload)); // payload.sub is the user id
