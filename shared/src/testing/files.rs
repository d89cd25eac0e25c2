//! Files for the storage tests: a bucket on moto's S3, forms sent as a browser sends them, and
//! real images.

use std::io::Cursor;

use serde_json::Value;

use super::moto::Moto;

/// A bucket on a moto of its own, which the process's AWS SDK reaches (see
/// [`Moto::use_from_this_process`]); stopped when dropped.
pub struct TestBucket {
    pub name: &'static str,
    pub s3: aws_sdk_s3::Client,
    pub moto: Moto,
}

impl TestBucket {
    /// Starts moto, points this process's AWS SDK at it and makes the bucket `name`.
    pub async fn start(name: &'static str) -> Self {
        let moto = Moto::start();
        moto.use_from_this_process();
        let sdk = crate::config::secrets::sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .expect("the bucket");
        Self { name, s3, moto }
    }

    /// The template's CORS rule for `origin`: browsers POST forms and GET links from it.
    pub async fn allow_origin(&self, origin: &str) {
        let rule = aws_sdk_s3::types::CorsRule::builder()
            .allowed_methods("GET")
            .allowed_methods("POST")
            .allowed_origins(origin)
            .allowed_headers("*")
            .expose_headers("Content-Disposition")
            .expose_headers("ETag")
            .max_age_seconds(600)
            .build()
            .expect("a CORS rule");
        self.s3
            .put_bucket_cors()
            .bucket(self.name)
            .cors_configuration(
                aws_sdk_s3::types::CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .expect("a CORS configuration"),
            )
            .send()
            .await
            .expect("the bucket's CORS rule");
    }

    /// Has the bucket announce each new upload's file (`.../original`) on a new queue, as the
    /// template has it invoke the thumbnail function (moto notifies queues, not functions).
    pub async fn announce_uploads(&self) -> Announcements {
        let sdk = crate::config::secrets::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = sqs
            .create_queue()
            .queue_name("uploads")
            .send()
            .await
            .expect("a queue")
            .queue_url()
            .expect("its URL")
            .to_owned();
        let arn_name = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(arn_name.clone())
            .send()
            .await
            .expect("the queue's attributes")
            .attributes()
            .and_then(|a| a.get(&arn_name).cloned())
            .expect("the queue's ARN");
        use aws_sdk_s3::types::{
            Event, FilterRule, FilterRuleName, NotificationConfiguration,
            NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
        };
        let suffix = FilterRule::builder()
            .name(FilterRuleName::Suffix)
            .value("/original")
            .build();
        let queue_configuration = QueueConfiguration::builder()
            .queue_arn(arn)
            .events(Event::from("s3:ObjectCreated:*"))
            .filter(
                NotificationConfigurationFilter::builder()
                    .key(S3KeyFilter::builder().filter_rules(suffix).build())
                    .build(),
            )
            .build()
            .expect("a queue configuration");
        self.s3
            .put_bucket_notification_configuration()
            .bucket(self.name)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(queue_configuration)
                    .build(),
            )
            .send()
            .await
            .expect("the bucket's notification");
        Announcements { sqs, queue }
    }

    /// The keys in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(self.name)
            .send()
            .await
            .expect("a listing");
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    /// The object at `key`.
    pub async fn get(&self, key: &str) -> Vec<u8> {
        self.s3
            .get_object()
            .bucket(self.name)
            .key(key)
            .send()
            .await
            .expect("the object")
            .body
            .collect()
            .await
            .expect("its bytes")
            .into_bytes()
            .to_vec()
    }
}

/// Where the bucket announces new uploads ([`TestBucket::announce_uploads`]).
pub struct Announcements {
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

impl Announcements {
    /// The S3 events waiting (each as S3 gives it to a function), taken off the queue; S3's
    /// test message left out.
    pub async fn take(&self) -> Vec<Value> {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&self.queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("the queue answers");
        let mut events = Vec::new();
        for message in got.messages() {
            self.sqs
                .delete_message()
                .queue_url(&self.queue)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("the message deleted");
            let event: Value =
                serde_json::from_str(message.body().unwrap_or("{}")).expect("an S3 event");
            if event.get("Records").is_some() {
                events.push(event);
            }
        }
        events
    }
}

/// Sends `bytes` with `form` (an upload's `form`: `url` and `fields`) as a browser's multipart
/// POST does; S3's status.
pub async fn send_form(form: &Value, bytes: Vec<u8>) -> u16 {
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form["fields"].as_object().expect("fields") {
        multipart = multipart.text(name.clone(), value.as_str().expect("text").to_owned());
    }
    multipart = multipart.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("f"),
    );
    reqwest::Client::new()
        .post(form["url"].as_str().expect("url"))
        .multipart(multipart)
        .send()
        .await
        .expect("S3 answers")
        .status()
        .as_u16()
}

/// A real PNG of `width` x `height` pixels (a gradient), with an alpha channel when `alpha`.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        })),
        image::ImageFormat::Png,
    )
}

/// A real JPEG of `width` x `height` pixels.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        })),
        image::ImageFormat::Jpeg,
    )
}

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).expect("an image");
    bytes.into_inner()
}

/// A PNG whose header declares `width` x `height` pixels, followed by a scrap of image data:
/// what a decompression bomb's first bytes look like.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut bytes, &ihdr);
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00]);
    chunk(&mut bytes, &idat);
    chunk(&mut bytes, b"IEND");
    bytes
}

/// Appends a PNG chunk (its type and data in `body`) with its length and CRC.
fn chunk(bytes: &mut Vec<u8>, body: &[u8]) {
    let length = u32::try_from(body.len() - 4).expect("a small chunk");
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(body);
    let mut crc = 0xFFFF_FFFFu32;
    for &b in body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    bytes.extend_from_slice(&(!crc).to_be_bytes());
}
