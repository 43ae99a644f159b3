//! A Lambda external extension that is also the function's runtime client: it forwards each
//! invocation as HTTP to an unmodified service on localhost.
