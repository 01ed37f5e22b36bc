//! SMTP (RFC 5321): the sans-io core (parser, replies, DATA/BDAT reader, session state machine).
