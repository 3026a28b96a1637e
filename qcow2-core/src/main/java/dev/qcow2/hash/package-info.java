/**
 * Digests of a virtual disk's content ({@link dev.qcow2.hash.ContentHasher}): SHA-1 and SHA-256
 * equal to {@code sha256sum} of the raw disk, and a parallel, sparse-aware tree SHA-256.
 */
package dev.qcow2.hash;
