package dev.qcow2;

import java.util.List;

/**
 * The result of checking an image, with qemu-img check's counters and field names.
 *
 * @param filename the image's file name
 * @param corruptions problems that may lose data: refcounts below the references, misaligned or
 *     out-of-file entries, wrong COPIED flags
 * @param leaks clusters whose refcount is above their references (wasted space only)
 * @param checkErrors problems that kept the check from completing
 * @param corruptionsFixed corruptions a repair fixed
 * @param leaksFixed leaks a repair fixed
 * @param imageEndOffset one past the last cluster in use, in bytes
 * @param totalClusters guest clusters of the virtual disk
 * @param allocatedClusters guest clusters the active layer allocates (data, zero-allocated or
 *     compressed)
 * @param fragmentedClusters allocated clusters that do not follow the previous one in the file
 * @param compressedClusters compressed guest clusters
 * @param messages the problems, one line each, as qemu-img prints them ("ERROR cluster 6 refcount=0
 *     reference=1", "Leaked cluster 30 refcount=1 reference=0")
 */
public record CheckReport(
    String filename,
    int corruptions,
    int leaks,
    int checkErrors,
    int corruptionsFixed,
    int leaksFixed,
    long imageEndOffset,
    long totalClusters,
    long allocatedClusters,
    long fragmentedClusters,
    long compressedClusters,
    List<String> messages) {

  /**
   * A report with the given fields.
   *
   * @param filename the image's file name
   * @param corruptions problems that may lose data: refcounts below the references, misaligned or
   *     out-of-file entries, wrong COPIED flags
   * @param leaks clusters whose refcount is above their references (wasted space only)
   * @param checkErrors problems that kept the check from completing
   * @param corruptionsFixed corruptions a repair fixed
   * @param leaksFixed leaks a repair fixed
   * @param imageEndOffset one past the last cluster in use, in bytes
   * @param totalClusters guest clusters of the virtual disk
   * @param allocatedClusters guest clusters the active layer allocates (data, zero-allocated or
   *     compressed)
   * @param fragmentedClusters allocated clusters that do not follow the previous one in the file
   * @param compressedClusters compressed guest clusters
   * @param messages the problems, one line each, as qemu-img prints them ("ERROR cluster 6
   *     refcount=0 reference=1", "Leaked cluster 30 refcount=1 reference=0")
   * @throws NullPointerException if {@code messages} or one of them is null
   */
  public CheckReport {
    messages = List.copyOf(messages);
  }

  /**
   * The exit code qemu-img check gives for this report.
   *
   * @return 1 if the check could not complete, else 2 with corruptions, else 3 with leaks, else 0
   */
  public int exitCode() {
    if (checkErrors > 0) {
      return 1;
    }
    if (corruptions > 0) {
      return 2;
    }
    return leaks > 0 ? 3 : 0;
  }

  /**
   * Whether the check found nothing wrong.
   *
   * @return true with no corruption, no leak and no check error
   */
  public boolean isClean() {
    return corruptions == 0 && leaks == 0 && checkErrors == 0;
  }

  CheckReport withFixed(int corruptionsFixed, int leaksFixed) {
    return new CheckReport(
        filename,
        corruptions,
        leaks,
        checkErrors,
        corruptionsFixed,
        leaksFixed,
        imageEndOffset,
        totalClusters,
        allocatedClusters,
        fragmentedClusters,
        compressedClusters,
        messages);
  }
}
