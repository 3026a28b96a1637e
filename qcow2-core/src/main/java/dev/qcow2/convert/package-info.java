/**
 * Whole-image jobs, as qemu-img runs them: convert ({@link dev.qcow2.convert.ImageConverter}, to a
 * file or to a stream that cannot seek), compare, measure, rebase and commit. The conversions read
 * and compress on several threads and leave holes where the disk reads zeros.
 */
package dev.qcow2.convert;
