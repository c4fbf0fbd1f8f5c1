// Verify a scangate token in Go with golang-jwt and keyfunc (a JWKS fetcher).
//
//	go get github.com/golang-jwt/jwt/v5 github.com/MicahParks/keyfunc/v3
//	go run . <token> <public_url> <audience>
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

func main() {
	token, publicURL, audience := os.Args[1], os.Args[2], os.Args[3]
	// Fetches the keys, refreshes them in the background, picks the token's `kid`.
	jwks, err := keyfunc.NewDefault([]string{publicURL + "/.auth/jwks.json"})
	if err != nil {
		panic(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, jwks.Keyfunc,
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(publicURL),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refused:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(claims)
	fmt.Println(string(out)) // claims["sub"] is the user id
}
