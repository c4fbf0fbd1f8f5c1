// Verify a scangate token in Java with Nimbus JOSE + JWT (com.nimbusds:nimbus-jose-jwt 9.x).
//   java Verify.java <token> <public_url> <audience>
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import java.net.URL;
import java.util.Set;

public class Verify {
    public static void main(String[] args) throws Exception {
        String token = args[0], publicUrl = args[1], audience = args[2];
        // Fetched, cached and refreshed on an unknown `kid`.
        var keys = JWKSourceBuilder.<SecurityContext>create(new URL(publicUrl + "/.auth/jwks.json")).build();
        var processor = new DefaultJWTProcessor<SecurityContext>();
        processor.setJWSKeySelector(new JWSVerificationKeySelector<>(JWSAlgorithm.ES256, keys));
        processor.setJWTClaimsSetVerifier(new DefaultJWTClaimsVerifier<>(
                audience,
                new JWTClaimsSet.Builder().issuer(publicUrl).build(),
                Set.of("sub", "exp", "iat")));
        JWTClaimsSet claims = processor.process(token, null); // throws when refused
        System.out.println(claims.toJSONObject()); // claims.getSubject() is the user id
    }
}
