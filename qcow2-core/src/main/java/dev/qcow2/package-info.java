/**
 * qcow2 and raw disk images: open and read them ({@link dev.qcow2.DiskImage}), create and write
 * qcow2 images ({@link dev.qcow2.Qcow2Image}, {@link dev.qcow2.CreateOptions}), check and repair
 * them ({@link dev.qcow2.ImageChecker}), take internal snapshots and amend their options.
 *
 * <p>Offsets and sizes are in bytes. Guest offsets are offsets in the virtual disk; host offsets,
 * in the image file. Bad images raise a {@link dev.qcow2.Qcow2Exception} (an {@code IOException})
 * naming the file, the structure and the offset; argument errors raise the JDK's unchecked
 * exceptions.
 */
package dev.qcow2;
