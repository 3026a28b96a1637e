/**
 * A Network Block Device server for the library's images: {@link dev.qcow2.nbd.NbdServer} exports
 * one {@link dev.qcow2.DiskImage} (writable when it is a writable {@link dev.qcow2.Qcow2Image})
 * over TCP or a Unix socket, as the NBD project's {@code doc/proto.md} and qemu-nbd define the
 * protocol; {@link dev.qcow2.nbd.ServerOptions} holds qemu-nbd's options and {@link
 * dev.qcow2.nbd.TlsCredentials} reads the certificate files of qemu's {@code tls-creds-x509}.
 *
 * <p>Inside: {@code Handshake} (fixed newstyle option haggling), {@code Connection} (one client's
 * transmission phase), {@code Commands} (what each request does, and the errors the spec names),
 * {@code ReplyWriter} (a connection's replies, in the order they finish), {@code Export} (the image
 * and what the options allow on it), {@code MetaContext} (base:allocation, qemu:allocation-depth
 * and qemu:dirty-bitmap:NAME), {@code DirtyBitmapContext} (a bitmap's runs), {@code Descriptors}
 * (one context's block status descriptors), {@code Replies} and {@code Nbd} (the wire format).
 */
package dev.qcow2.nbd;
