/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OVA: a tar archive (ustar, or GNU tar when the disk passes ustar's 8 GiB
 * limit) holding, in this order, the OVF descriptor, a manifest of SHA-256
 * digests and one streamOptimized VMDK disk (see ova.txt).
 *
 * A tar header carries its member's size, and the OVF descriptor names
 * the disk's size, so the disk is written first, to an unnamed scratch
 * file beside the output (compressed: no raw temporary), and then packed
 * behind the descriptor and the manifest.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/xmlwriter.h>

#include "buf.h"
#include "digest.h"
#include "private.h"

#define OVA_COPY_CHUNK (1u << 20)
#define OVA_USTAR_MAX ((8ull << 30) - 1)

static const char *const nics[] = {"e1000", "e1000e", "vmxnet3", "none", NULL};
/* The OVF ResourceSubType of each NIC above. */
static const char *const nic_subtypes[] = {"E1000", "E1000e", "VmxNet3"};

struct ova_writer {
	struct fmt_writer *disk;
	int disk_fd;
	char *disk_name; /* member name of the VMDK */
	char *vm_name;
	uint64_t cpus;
	uint64_t memory; /* MiB */
	int nic;
	const char *network;
	const char *ostype;
	int adapter;
	uint64_t out_pos; /* libarchive's write position */
	struct fmt_writer *w;
	struct rf_error *archive_err; /* for the write callback */
};

static char *default_vm_name(const struct fmt_writer *w)
{
	const char *base = w->out.base ? w->out.base : w->path;
	size_t len = strlen(base);

	if (len > 4 && strcmp(base + len - 4, ".ova") == 0)
		len -= 4;
	return rf_xstrndup(base, len);
}

/* A name safe as a tar member and an OVF id: [A-Za-z0-9._-]. */
static char *member_name(const char *vm)
{
	struct rf_buf b = RF_BUF_INIT;

	for (const char *p = vm; *p != '\0' && b.len < 80; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			c = '_';
		rf_buf_addch(&b, c);
	}
	if (b.len == 0 || b.data[0] == '.')
		rf_buf_addstr(&b, "vm");
	return rf_buf_detach(&b);
}

/* A new string: s followed by suffix. */
static char *with_suffix(const char *s, const char *suffix)
{
	struct rf_buf b = RF_BUF_INIT;

	rf_buf_printf(&b, "%s%s", s, suffix);
	return rf_buf_detach(&b);
}

static int open_scratch(struct fmt_writer *w, struct rf_error *err)
{
	struct ova_writer *o = w->priv;
	int dirfd = w->out.dirfd >= 0 ? w->out.dirfd : AT_FDCWD;

	o->disk_fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (o->disk_fd >= 0)
		return 0;
	/* Without O_TMPFILE: a named file, unlinked at once. */
	for (int tries = 0; tries < 100; tries++) {
		char name[64];

		snprintf(name, sizeof(name), ".ova-disk.%d.%d.tmp",
			 (int)getpid(), tries);
		o->disk_fd =
			openat(dirfd, name,
			       O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (o->disk_fd >= 0) {
			(void)unlinkat(dirfd, name, 0);
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	return rf_error_errno(err, -errno,
			      "Could not create a scratch file "
			      "beside '%s'",
			      w->path);
}

static int ova_open(struct fmt_writer *w, struct rf_error *err)
{
	struct ova_writer *o = rf_xcalloc(1, sizeof(*o));
	struct fmt_options disk_opts = {NULL, 0};
	const char *name, *threads, *hw;
	struct rf_buf dopt = RF_BUF_INIT;
	char *member = NULL;
	int rc;

	w->priv = o;
	o->w = w;
	o->disk_fd = -1;
	name = fmt_opt_str(w, "name");
	o->vm_name = name ? rf_xstrdup(name) : default_vm_name(w);
	rc = fmt_opt_size(w, "cpus", 1, &o->cpus, err);
	if (rc < 0)
		goto out;
	if (o->cpus < 1 || o->cpus > 768) {
		rc = rf_error_set(err, -EINVAL, "cpus must be 1 to 768");
		goto out;
	}
	rc = fmt_opt_size(w, "memory", 1024, &o->memory, err);
	if (rc < 0)
		goto out;
	if (o->memory < 4 || o->memory > (24ull << 20)) {
		rc = rf_error_set(err, -EINVAL,
				  "memory is in MiB: 4 to "
				  "25165824");
		goto out;
	}
	rc = fmt_opt_choice(w, "nic", nics, 0, &o->nic, err);
	if (rc < 0)
		goto out;
	o->network = fmt_opt_str(w, "network");
	if (o->network == NULL)
		o->network = "VM Network";
	o->ostype = fmt_opt_str(w, "ostype");
	if (o->ostype == NULL)
		o->ostype = "otherLinux64Guest";
	/* The disk's own options, checked by the VMDK writer. */
	rf_buf_printf(&dopt, "subformat=streamOptimized,adapter_type=%s",
		      fmt_opt_str(w, "adapter_type")
			      ? fmt_opt_str(w, "adapter_type")
			      : "lsilogic");
	threads = fmt_opt_str(w, "threads");
	if (threads != NULL)
		rf_buf_printf(&dopt, ",threads=%s", threads);
	hw = fmt_opt_str(w, "hwversion");
	if (hw != NULL)
		rf_buf_printf(&dopt, ",hwversion=%s", hw);
	rc = fmt_options_parse(&disk_opts, dopt.data, err);
	if (rc < 0)
		goto out;
	rc = open_scratch(w, err);
	if (rc < 0)
		goto out;
	member = member_name(o->vm_name);
	o->disk_name = with_suffix(member, "-disk1.vmdk");
	rc = fmt_writer_new_fd(&fmt_vmdk_writer, o->disk_fd, o->disk_name,
			       w->size, &disk_opts, &o->disk, err);
	if (rc < 0)
		goto out;
	/* Which adapter the VMDK writer settled on, for the OVF. */
	for (o->adapter = 0; fmt_vmdk_adapter_name(o->adapter) != NULL;
	     o->adapter++)
		if (!strcmp(fmt_vmdk_adapter_name(o->adapter),
			    fmt_opt_str(w, "adapter_type")
				    ? fmt_opt_str(w, "adapter_type")
				    : "lsilogic"))
			break;
	w->block_size = o->disk->block_size;
	w->virtual_size = o->disk->virtual_size;
out:
	free(member);
	rf_buf_free(&dopt);
	fmt_options_free(&disk_opts);
	return rc;
}

static int ova_write_blocks(struct fmt_writer *w, uint64_t first,
			    uint64_t count, const uint8_t *buf,
			    struct rf_error *err)
{
	struct ova_writer *o = w->priv;

	o->disk->data_blocks += count;
	return o->disk->ops->write_blocks(o->disk, first, count, buf, err);
}

/* ---- the OVF descriptor ---- */

#define OVF_NS "http://schemas.dmtf.org/ovf/envelope/1"
#define RASD_NS                                                                \
	"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                   \
	"CIM_ResourceAllocationSettingData"
#define VSSD_NS                                                                \
	"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                   \
	"CIM_VirtualSystemSettingData"
#define VMDK_STREAM_URI                                                        \
	"http://www.vmware.com/interfaces/specifications/"                     \
	"vmdk.html#streamOptimized"

static const xmlChar *X(const char *s)
{
	return (const xmlChar *)s;
}

/*
 * One RASD item. Fields in the schema's (alphabetical) order; NULL ones
 * are left out.
 */
struct rasd {
	const char *address;
	const char *address_on_parent;
	const char *allocation_units;
	const char *automatic_allocation;
	const char *connection;
	const char *description;
	const char *element_name;
	const char *host_resource;
	const char *instance_id;
	const char *parent;
	const char *resource_subtype;
	const char *resource_type;
	const char *virtual_quantity;
};

static int put_item(xmlTextWriterPtr x, const struct rasd *r)
{
	const struct {
		const char *name;
		const char *value;
	} f[] = {
		{"rasd:Address", r->address},
		{"rasd:AddressOnParent", r->address_on_parent},
		{"rasd:AllocationUnits", r->allocation_units},
		{"rasd:AutomaticAllocation", r->automatic_allocation},
		{"rasd:Connection", r->connection},
		{"rasd:Description", r->description},
		{"rasd:ElementName", r->element_name},
		{"rasd:HostResource", r->host_resource},
		{"rasd:InstanceID", r->instance_id},
		{"rasd:Parent", r->parent},
		{"rasd:ResourceSubType", r->resource_subtype},
		{"rasd:ResourceType", r->resource_type},
		{"rasd:VirtualQuantity", r->virtual_quantity},
	};
	int rc = xmlTextWriterStartElement(x, X("Item"));

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && rc >= 0; i++)
		if (f[i].value != NULL)
			rc = xmlTextWriterWriteElement(x, X(f[i].name),
						       X(f[i].value));
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	return rc;
}

static int put_info(xmlTextWriterPtr x, const char *text)
{
	return xmlTextWriterWriteElement(x, X("Info"), X(text));
}

static int put_hardware(xmlTextWriterPtr x, struct ova_writer *o)
{
	char cpus[32], mem[32], cpu_name[64], mem_name[64];
	const char *adapter = fmt_vmdk_adapter_name(o->adapter);
	bool ide = !strcmp(adapter, "ide");
	const char *scsi_type = !strcmp(adapter, "pvscsi")	? "VirtualSCSI"
				: !strcmp(adapter, "legacyESX") ? "lsilogic"
								: adapter;
	int rc;

	snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)o->cpus);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)o->memory);
	snprintf(cpu_name, sizeof(cpu_name), "%s virtual CPU(s)", cpus);
	snprintf(mem_name, sizeof(mem_name), "%sMB of memory", mem);
	rc = xmlTextWriterStartElement(x, X("VirtualHardwareSection"));
	if (rc >= 0)
		rc = put_info(x, "Virtual hardware requirements");
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("System"));
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(x, X("vssd:ElementName"),
					       X("Virtual Hardware Family"));
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(x, X("vssd:InstanceID"), X("0"));
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(
			x, X("vssd:VirtualSystemIdentifier"), X(o->vm_name));
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(x, X("vssd:VirtualSystemType"),
					       X("vmx-10"));
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	if (rc >= 0) {
		struct rasd cpu = {
			.allocation_units = "hertz * 10^6",
			.description = "Number of Virtual CPUs",
			.element_name = cpu_name,
			.instance_id = "1",
			.resource_type = "3",
			.virtual_quantity = cpus,
		};
		rc = put_item(x, &cpu);
	}
	if (rc >= 0) {
		struct rasd memory = {
			.allocation_units = "byte * 2^20",
			.description = "Memory Size",
			.element_name = mem_name,
			.instance_id = "2",
			.resource_type = "4",
			.virtual_quantity = mem,
		};
		rc = put_item(x, &memory);
	}
	if (rc >= 0) {
		struct rasd ctrl = {
			.address = "0",
			.description =
				ide ? "IDE Controller" : "SCSI Controller",
			.element_name = ide ? "IDE 0" : "SCSI controller 0",
			.instance_id = "3",
			.resource_subtype = ide ? NULL : scsi_type,
			.resource_type = ide ? "5" : "6",
		};
		rc = put_item(x, &ctrl);
	}
	if (rc >= 0) {
		struct rasd disk = {
			.address_on_parent = "0",
			.element_name = "Hard disk 1",
			.host_resource = "ovf:/disk/vmdisk1",
			.instance_id = "4",
			.parent = "3",
			.resource_type = "17",
		};
		rc = put_item(x, &disk);
	}
	if (rc >= 0 && strcmp(nics[o->nic], "none") != 0) {
		struct rasd nic = {
			.address_on_parent = "7",
			.automatic_allocation = "true",
			.connection = o->network,
			.description = "Network adapter",
			.element_name = "Network adapter 1",
			.instance_id = "5",
			.resource_subtype = nic_subtypes[o->nic],
			.resource_type = "10",
		};
		rc = put_item(x, &nic);
	}
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	return rc;
}

static int put_envelope(xmlTextWriterPtr x, struct ova_writer *o,
			uint64_t disk_size)
{
	char size[32], capacity[32], populated[32];
	int rc;

	snprintf(size, sizeof(size), "%llu", (unsigned long long)disk_size);
	snprintf(capacity, sizeof(capacity), "%llu",
		 (unsigned long long)o->disk->virtual_size);
	snprintf(populated, sizeof(populated), "%llu",
		 (unsigned long long)(o->disk->data_blocks *
				      o->disk->block_size));
	rc = xmlTextWriterStartDocument(x, "1.0", "UTF-8", NULL);
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("Envelope"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("xmlns"), X(OVF_NS));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("xmlns:ovf"), X(OVF_NS));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("xmlns:rasd"),
						 X(RASD_NS));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("xmlns:vssd"),
						 X(VSSD_NS));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(
			x, X("xmlns:vmw"),
			X("http://www.vmware.com/schema/ovf"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(
			x, X("xmlns:xsi"),
			X("http://www.w3.org/2001/XMLSchema-instance"));
	/* References: the one disk file. */
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("References"));
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("File"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:href"),
						 X(o->disk_name));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:id"), X("file1"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:size"), X(size));
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	/* DiskSection. */
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("DiskSection"));
	if (rc >= 0)
		rc = put_info(x, "Virtual disk information");
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("Disk"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:capacity"),
						 X(capacity));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(
			x, X("ovf:capacityAllocationUnits"), X("byte"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:diskId"),
						 X("vmdisk1"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:fileRef"),
						 X("file1"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:format"),
						 X(VMDK_STREAM_URI));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:populatedSize"),
						 X(populated));
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	/* NetworkSection. */
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("NetworkSection"));
	if (rc >= 0)
		rc = put_info(x, "The list of logical networks");
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("Network"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:name"),
						 X(o->network));
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(x, X("Description"),
					       X("The VM's network"));
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	/* The virtual machine. */
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("VirtualSystem"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("ovf:id"), X(o->vm_name));
	if (rc >= 0)
		rc = put_info(x, "A virtual machine");
	if (rc >= 0)
		rc = xmlTextWriterWriteElement(x, X("Name"), X(o->vm_name));
	if (rc >= 0)
		rc = xmlTextWriterStartElement(x, X("OperatingSystemSection"));
	if (rc >= 0)
		/* CIM 101: "Linux 64-Bit"; vmw:osType is VMware's finer id. */
		rc = xmlTextWriterWriteAttribute(x, X("ovf:id"), X("101"));
	if (rc >= 0)
		rc = xmlTextWriterWriteAttribute(x, X("vmw:osType"),
						 X(o->ostype));
	if (rc >= 0)
		rc = put_info(x, "The kind of installed guest operating "
				 "system");
	if (rc >= 0)
		rc = xmlTextWriterEndElement(x);
	if (rc >= 0)
		rc = put_hardware(x, o);
	if (rc >= 0)
		rc = xmlTextWriterEndDocument(x);
	return rc;
}

static int make_ovf(struct ova_writer *o, uint64_t disk_size,
		    struct rf_buf *out, struct rf_error *err)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr x = NULL;
	int rc = -ENOMEM;

	if (buf == NULL)
		goto out;
	x = xmlNewTextWriterMemory(buf, 0);
	if (x == NULL)
		goto out;
	xmlTextWriterSetIndent(x, 1);
	xmlTextWriterSetIndentString(x, X("  "));
	if (put_envelope(x, o, disk_size) < 0)
		goto out;
	xmlFreeTextWriter(x);
	x = NULL;
	rf_buf_add(out, xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
	rc = 0;
out:
	if (rc < 0)
		rf_error_set(err, rc, "Could not build the OVF descriptor");
	xmlFreeTextWriter(x);
	xmlBufferFree(buf);
	return rc;
}

/* ---- the tar archive ---- */

static la_ssize_t archive_out(struct archive *a, void *ctx, const void *buf,
			      size_t len)
{
	struct ova_writer *o = ctx;

	if (fmt_pwrite(o->w, buf, len, o->out_pos, o->archive_err) < 0) {
		archive_set_error(a, EIO, "%s", o->archive_err->msg);
		return -1;
	}
	o->out_pos += len;
	return (la_ssize_t)len;
}

static int archive_fail(struct ova_writer *o, struct archive *a,
			struct rf_error *err)
{
	if (o->archive_err->code < 0)
		return o->archive_err->code;
	return rf_error_set(err, -EIO, "'%s': %s", o->w->path,
			    archive_error_string(a) ? archive_error_string(a)
						    : "tar error");
}

static int add_header(struct archive *a, const char *name, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	archive_entry_set_uname(e, "root");
	archive_entry_set_gname(e, "root");
	rc = archive_write_header(a, e);
	archive_entry_free(e);
	return rc;
}

static int add_member(struct ova_writer *o, struct archive *a, const char *name,
		      const void *data, size_t len, struct rf_error *err)
{
	if (add_header(a, name, len) != ARCHIVE_OK ||
	    archive_write_data(a, data, len) != (la_ssize_t)len)
		return archive_fail(o, a, err);
	return 0;
}

static int hash_disk(struct ova_writer *o, uint64_t size, uint8_t *buf,
		     char hex[2 * RF_SHA256_LEN + 1], struct rf_error *err)
{
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	unsigned char sum[RF_SHA256_LEN];
	int rc = 0;

	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < OVA_COPY_CHUNK ? (size_t)(size - off)
						       : OVA_COPY_CHUNK;
		ssize_t got = pread(o->disk_fd, buf, n, (off_t)off);

		if (got <= 0) {
			rc = rf_error_errno(err, got < 0 ? -errno : -EIO,
					    "Could not read back the disk of "
					    "'%s'",
					    o->w->path);
			goto out;
		}
		rf_digest_update(d, buf, (size_t)got);
		off += (uint64_t)got;
	}
	rf_digest_final(d, sum, NULL);
	for (size_t i = 0; i < RF_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
out:
	rf_digest_free(d);
	return rc;
}

static int ova_finish(struct fmt_writer *w, struct rf_error *err)
{
	struct ova_writer *o = w->priv;
	struct rf_buf ovf = RF_BUF_INIT, mf = RF_BUF_INIT;
	char *ovf_name = NULL, *mf_name = NULL;
	char disk_sum[2 * RF_SHA256_LEN + 1], ovf_sum[2 * RF_SHA256_LEN + 1];
	unsigned char sum[RF_SHA256_LEN];
	struct archive *a = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	char *member;
	int rc;

	o->archive_err = err;
	rc = fmt_writer_finish(o->disk, err);
	if (rc < 0)
		goto out;
	if (fstat(o->disk_fd, &st) < 0) {
		rc = rf_error_errno(err, -errno,
				    "Could not stat the disk of "
				    "'%s'",
				    w->path);
		goto out;
	}
	buf = rf_xmalloc(OVA_COPY_CHUNK);
	rc = hash_disk(o, (uint64_t)st.st_size, buf, disk_sum, err);
	if (rc < 0)
		goto out;
	rc = make_ovf(o, (uint64_t)st.st_size, &ovf, err);
	if (rc < 0)
		goto out;
	rf_sha256(ovf.data, ovf.len, sum);
	for (size_t i = 0; i < RF_SHA256_LEN; i++)
		snprintf(ovf_sum + 2 * i, 3, "%02x", sum[i]);
	member = member_name(o->vm_name);
	ovf_name = with_suffix(member, ".ovf");
	mf_name = with_suffix(member, ".mf");
	free(member);
	rf_buf_printf(&mf, "SHA256(%s)= %s\nSHA256(%s)= %s\n", ovf_name,
		      ovf_sum, o->disk_name, disk_sum);

	a = archive_write_new();
	if ((uint64_t)st.st_size > OVA_USTAR_MAX)
		archive_write_set_format_gnutar(a);
	else
		archive_write_set_format_ustar(a);
	if (archive_write_open(a, o, NULL, archive_out, NULL) != ARCHIVE_OK) {
		rc = archive_fail(o, a, err);
		goto out;
	}
	rc = add_member(o, a, ovf_name, ovf.data, ovf.len, err);
	if (rc < 0)
		goto out;
	rc = add_member(o, a, mf_name, mf.data, mf.len, err);
	if (rc < 0)
		goto out;
	if (add_header(a, o->disk_name, (uint64_t)st.st_size) != ARCHIVE_OK) {
		rc = archive_fail(o, a, err);
		goto out;
	}
	for (uint64_t off = 0; off < (uint64_t)st.st_size;) {
		size_t n = (uint64_t)st.st_size - off < OVA_COPY_CHUNK
				   ? (size_t)((uint64_t)st.st_size - off)
				   : OVA_COPY_CHUNK;
		ssize_t got = pread(o->disk_fd, buf, n, (off_t)off);

		if (got <= 0) {
			rc = rf_error_errno(err, got < 0 ? -errno : -EIO,
					    "Could not read back the disk of "
					    "'%s'",
					    w->path);
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)got) != got) {
			rc = archive_fail(o, a, err);
			goto out;
		}
		off += (uint64_t)got;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = archive_fail(o, a, err);
		goto out;
	}
	rc = fmt_truncate(w, o->out_pos, err);
out:
	archive_write_free(a);
	free(buf);
	free(ovf_name);
	free(mf_name);
	rf_buf_free(&ovf);
	rf_buf_free(&mf);
	return rc;
}

static void ova_free(struct fmt_writer *w)
{
	struct ova_writer *o = w->priv;

	if (o == NULL)
		return;
	fmt_writer_free(o->disk);
	if (o->disk_fd >= 0)
		close(o->disk_fd);
	free(o->disk_name);
	free(o->vm_name);
	free(o);
	w->priv = NULL;
}

const struct fmt_writer_ops fmt_ova_writer = {
	.name = "ova",
	.description = "OVF appliance: descriptor, manifest and a "
		       "streamOptimized VMDK in a tar",
	.open = ova_open,
	.write_blocks = ova_write_blocks,
	.finish = ova_finish,
	.free = ova_free,
};
