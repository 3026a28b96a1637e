package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.Bitmap;
import dev.qcow2.ImageInfo;
import dev.qcow2.Snapshot;
import dev.qcow2.tools.cli.JsonOutput;

/**
 * {@link ImageInfo} as the QAPI {@code ImageInfo} object qemu-img 7.2 prints. Keys are added in the
 * schema's field order; {@link JsonOutput} then prints them in qemu's hash order. Which keys are
 * present follows qemu's {@code bdrv_query_image_info} and {@code qcow2_get_specific_info}.
 */
public final class ImageInfoJson {
  private ImageInfoJson() {}

  static ObjectNode of(ImageInfo info) {
    ObjectNode o = JsonOutput.object();
    o.put("filename", info.filename());
    o.put("format", info.format());
    o.put("dirty-flag", info.dirty());
    if (info.actualSize() >= 0) {
      o.put("actual-size", info.actualSize());
    }
    o.put("virtual-size", info.virtualSize());
    if (info.clusterSize() != 0) {
      o.put("cluster-size", info.clusterSize());
    }
    if (info.encryptFormat() != null) {
      o.put("encrypted", true);
    }
    if (info.backingFilename() != null) {
      o.put("backing-filename", info.backingFilename());
      if (info.fullBackingFilename() != null) {
        o.put("full-backing-filename", info.fullBackingFilename());
      }
      if (info.backingFormat() != null) {
        o.put("backing-filename-format", info.backingFormat());
      }
    }
    if (!info.snapshots().isEmpty()) {
      ArrayNode list = o.putArray("snapshots");
      for (Snapshot s : info.snapshots()) {
        list.add(snapshot(s));
      }
    }
    if (info.isQcow2()) {
      ObjectNode spec = o.putObject("format-specific");
      spec.put("type", "qcow2");
      spec.set("data", qcow2Data(info));
    }
    return o;
  }

  private static ObjectNode snapshot(Snapshot s) {
    ObjectNode o = JsonOutput.object();
    o.put("id", s.id());
    o.put("name", s.name());
    o.put("vm-state-size", s.vmStateSize());
    o.put("date-sec", s.dateSeconds());
    o.put("date-nsec", s.dateNanos());
    o.put("vm-clock-sec", s.vmClockNanos() / 1_000_000_000L);
    o.put("vm-clock-nsec", s.vmClockNanos() % 1_000_000_000L);
    if (s.icount() != -1) {
      o.put("icount", s.icount());
    }
    return o;
  }

  /**
   * ImageInfoSpecificQCow2, the "data" of "format-specific": version 2 images report only compat,
   * refcount bits and compression. Keys in insertion order; JsonOutput orders them as qemu.
   */
  public static ObjectNode qcow2Data(ImageInfo info) {
    ObjectNode d = JsonOutput.object();
    d.put("compat", info.compat());
    boolean v3 = !"0.10".equals(info.compat());
    if (v3 && info.dataFile() != null) {
      d.put("data-file", info.dataFile());
      d.put("data-file-raw", info.dataFileRaw());
    }
    if (v3) {
      d.put("extended-l2", info.extendedL2());
      d.put("lazy-refcounts", info.lazyRefcounts());
      d.put("corrupt", info.corrupt());
    }
    d.put("refcount-bits", info.refcountBits());
    if (info.encryption() != null) {
      d.set("encrypt", EncryptInfoJson.of(info.encryption()));
    } else if (info.encryptFormat() != null) {
      // The legacy AES method has no header to describe: qemu names the format alone.
      d.putObject("encrypt").put("format", info.encryptFormat());
    }
    if (v3 && !info.bitmaps().isEmpty()) {
      ArrayNode list = d.putArray("bitmaps");
      for (Bitmap b : info.bitmaps()) {
        ObjectNode bo = list.addObject();
        bo.put("name", b.name());
        bo.put("granularity", b.granularity());
        ArrayNode flags = bo.putArray("flags");
        if (b.inUse()) {
          flags.add("in-use");
        }
        if (b.auto()) {
          flags.add("auto");
        }
      }
    }
    d.put("compression-type", info.compressionType().qemuName());
    return d;
  }
}
